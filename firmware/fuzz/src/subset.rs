//! The part of WebAssembly the differential fuzzer generates: which value types and which
//! post-MVP features. The JIT compiles i32 and i64 (since the JIT merge of round 3), and that is
//! the default; as it gains floats and the 2.0 features, the subset grows with `--subset` and
//! nothing else changes (`--subset i32` keeps to the old subset).

use core::fmt;

/// A value type the generator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

impl ValueType {
    /// The type's name in WAT (`i32`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::I32 => "i32",
            ValueType::I64 => "i64",
        }
    }

    /// Width in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            ValueType::I32 => 4,
            ValueType::I64 => 8,
        }
    }
}

/// A post-MVP feature the generator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// `i32.extend8_s` and friends.
    SignExtension,
    /// The table operators of bulk memory and reference types on the module's funcref table:
    /// `table.copy`, `table.init` (from a passive segment), `elem.drop`, `table.get`,
    /// `table.set`, `table.fill`, `table.size`, `table.grow`, `ref.func`, `ref.null`,
    /// `ref.is_null`.
    Tables,
}

impl Feature {
    /// The name `--subset` takes.
    pub fn name(self) -> &'static str {
        match self {
            Feature::SignExtension => "sign-extension",
            Feature::Tables => "tables",
        }
    }
}

/// Why a `--subset` text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubsetError {
    /// A word that names no type or feature the generator knows.
    Unknown(String),
    /// The subset has no value type (`i32` is needed for addresses and conditions).
    NoI32,
    /// f32/f64 were asked for: the generator does not produce floats yet.
    FloatsNotGenerated(String),
}

impl fmt::Display for SubsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubsetError::Unknown(word) => write!(
                f,
                "`{word}` is not a value type or feature the generator knows (i32, i64, sign-extension, tables)"
            ),
            SubsetError::NoI32 => f.write_str(
                "the subset must contain i32 (addresses, conditions and indices are i32)",
            ),
            SubsetError::FloatsNotGenerated(word) => write!(
                f,
                "`{word}`: the generator does not produce floats yet (their NaN bits need \
                 canonicalising before results can be compared with wasmi)"
            ),
        }
    }
}

impl std::error::Error for SubsetError {}

/// The value types and features to generate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subset {
    /// Value types, `I32` always among them.
    pub value_types: Vec<ValueType>,
    /// Post-MVP features.
    pub features: Vec<Feature>,
}

impl Subset {
    /// What the JIT compiles today and the generator produces: i32 and i64, sign extension
    /// and the table operators (floats are not generated yet).
    pub fn jit() -> Subset {
        Subset {
            value_types: vec![ValueType::I32, ValueType::I64],
            features: vec![Feature::SignExtension, Feature::Tables],
        }
    }

    /// Parses a comma-separated list such as `i32,i64,sign-extension`.
    pub fn parse(text: &str) -> Result<Subset, SubsetError> {
        let mut subset = Subset {
            value_types: Vec::new(),
            features: Vec::new(),
        };
        for word in text
            .split(',')
            .map(str::trim)
            .filter(|word| !word.is_empty())
        {
            match word {
                "i32" => subset.value_types.push(ValueType::I32),
                "i64" => subset.value_types.push(ValueType::I64),
                "f32" | "f64" => return Err(SubsetError::FloatsNotGenerated(word.into())),
                "sign-extension" => subset.features.push(Feature::SignExtension),
                "tables" => subset.features.push(Feature::Tables),
                other => return Err(SubsetError::Unknown(other.into())),
            }
        }
        subset.value_types.sort();
        subset.value_types.dedup();
        subset.features.sort();
        subset.features.dedup();
        if !subset.value_types.contains(&ValueType::I32) {
            return Err(SubsetError::NoI32);
        }
        Ok(subset)
    }

    /// Whether `feature` is on.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self
            .value_types
            .iter()
            .map(|ty| ty.name())
            .chain(self.features.iter().map(|feature| feature.name()))
            .collect();
        f.write_str(&words.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subset text round-trips and refuses what the generator cannot do.
    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            Subset::parse("i64,i32,tables,sign-extension").unwrap(),
            Subset::jit()
        );
        let wide = Subset::parse("i64, i32,sign-extension").unwrap();
        assert_eq!(wide.to_string(), "i32,i64,sign-extension");
        assert_eq!(Subset::parse("i64"), Err(SubsetError::NoI32));
        assert!(matches!(
            Subset::parse("i32,f32"),
            Err(SubsetError::FloatsNotGenerated(_))
        ));
        assert!(matches!(
            Subset::parse("i32,simd"),
            Err(SubsetError::Unknown(_))
        ));
    }
}

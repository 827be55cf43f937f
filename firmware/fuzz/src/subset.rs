//! The part of WebAssembly the differential fuzzer generates: which number types and which
//! post-MVP features. The default, [`Subset::jit`], is everything the JIT compiles (WebAssembly
//! 2.0 without SIMD and without what the README lists as not built yet); `--subset` narrows it
//! (`--subset i32` keeps to the first JIT's subset).

use core::fmt;

/// A value type the generator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `funcref` (with [`Feature::ReferenceTypes`]).
    FuncRef,
    /// `externref` (with [`Feature::ReferenceTypes`]).
    ExternRef,
}

impl ValueType {
    /// Every value type, in index order (see [`ValueType::index`]).
    pub const ALL: [ValueType; 6] = [
        ValueType::I32,
        ValueType::I64,
        ValueType::F32,
        ValueType::F64,
        ValueType::FuncRef,
        ValueType::ExternRef,
    ];

    /// The type's name in WAT (`i32`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::I32 => "i32",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
            ValueType::FuncRef => "funcref",
            ValueType::ExternRef => "externref",
        }
    }

    /// The type's position in [`ValueType::ALL`] (for per-type tables).
    pub fn index(self) -> usize {
        self as usize
    }

    /// `i32` or `i64`.
    pub fn is_integer(self) -> bool {
        matches!(self, ValueType::I32 | ValueType::I64)
    }

    /// `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, ValueType::F32 | ValueType::F64)
    }

    /// A number: what memory can hold.
    pub fn is_number(self) -> bool {
        self.is_integer() || self.is_float()
    }

    /// `funcref` or `externref`.
    pub fn is_reference(self) -> bool {
        !self.is_number()
    }
}

/// A post-MVP feature the generator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// `i32.extend8_s` and friends.
    SignExtension,
    /// The non-trapping float-to-int conversions (`i32.trunc_sat_f32_s` ...).
    SaturatingFloatToInt,
    /// Functions with several results; blocks, `if`s and loops with parameters and several
    /// results; branches carrying several values.
    MultiValue,
    /// `memory.copy`, `memory.fill`, `memory.init`, `data.drop` and passive data segments.
    BulkMemory,
    /// `funcref`/`externref` values, several tables, `table.*`, `ref.*`, typed `select`,
    /// `call_indirect` through any table.
    ReferenceTypes,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 5] = [
        Feature::SignExtension,
        Feature::SaturatingFloatToInt,
        Feature::MultiValue,
        Feature::BulkMemory,
        Feature::ReferenceTypes,
    ];

    /// The name `--subset` takes.
    pub fn name(self) -> &'static str {
        match self {
            Feature::SignExtension => "sign-extension",
            Feature::SaturatingFloatToInt => "saturating-float-to-int",
            Feature::MultiValue => "multi-value",
            Feature::BulkMemory => "bulk-memory",
            Feature::ReferenceTypes => "reference-types",
        }
    }
}

/// Why a `--subset` text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubsetError {
    /// A word that names no type or feature the generator knows.
    Unknown(String),
    /// The subset has no `i32` (addresses, conditions and indices are i32).
    NoI32,
    /// `saturating-float-to-int` without a float type: nothing to convert.
    NeedsFloats,
}

impl fmt::Display for SubsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubsetError::Unknown(word) => {
                let known: Vec<&str> = [
                    ValueType::I32,
                    ValueType::I64,
                    ValueType::F32,
                    ValueType::F64,
                ]
                .iter()
                .map(|ty| ty.name())
                .chain(Feature::ALL.iter().map(|feature| feature.name()))
                .collect();
                write!(
                    f,
                    "`{word}` is not a value type or feature the generator knows ({})",
                    known.join(", ")
                )
            }
            SubsetError::NoI32 => f.write_str(
                "the subset must contain i32 (addresses, conditions and indices are i32)",
            ),
            SubsetError::NeedsFloats => {
                f.write_str("saturating-float-to-int needs f32 or f64 in the subset")
            }
        }
    }
}

impl std::error::Error for SubsetError {}

/// The number types and features to generate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subset {
    /// Number types, `I32` always among them (the reference types come with
    /// [`Feature::ReferenceTypes`]).
    pub value_types: Vec<ValueType>,
    /// Post-MVP features.
    pub features: Vec<Feature>,
}

impl Subset {
    /// Everything the JIT compiles and the generator produces: the four number types and every
    /// feature.
    pub fn jit() -> Subset {
        Subset {
            value_types: vec![
                ValueType::I32,
                ValueType::I64,
                ValueType::F32,
                ValueType::F64,
            ],
            features: Feature::ALL.to_vec(),
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
            if let Some(ty) = [
                ValueType::I32,
                ValueType::I64,
                ValueType::F32,
                ValueType::F64,
            ]
            .into_iter()
            .find(|ty| ty.name() == word)
            {
                subset.value_types.push(ty);
            } else if let Some(feature) = Feature::ALL.into_iter().find(|f| f.name() == word) {
                subset.features.push(feature);
            } else {
                return Err(SubsetError::Unknown(word.into()));
            }
        }
        subset.value_types.sort();
        subset.value_types.dedup();
        subset.features.sort();
        subset.features.dedup();
        if !subset.value_types.contains(&ValueType::I32) {
            return Err(SubsetError::NoI32);
        }
        if subset.has(Feature::SaturatingFloatToInt) && !subset.has_floats() {
            return Err(SubsetError::NeedsFloats);
        }
        Ok(subset)
    }

    /// Whether `feature` is on.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// Whether `ty` is in the subset (a reference type when [`Feature::ReferenceTypes`] is on).
    pub fn has_type(&self, ty: ValueType) -> bool {
        if ty.is_reference() {
            self.has(Feature::ReferenceTypes)
        } else {
            self.value_types.contains(&ty)
        }
    }

    /// Whether `f32` or `f64` is in the subset.
    pub fn has_floats(&self) -> bool {
        self.value_types.iter().any(|ty| ty.is_float())
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
        let everything = Subset::jit().to_string();
        assert_eq!(
            everything,
            "i32,i64,f32,f64,sign-extension,saturating-float-to-int,multi-value,bulk-memory,\
             reference-types"
        );
        assert_eq!(Subset::parse(&everything).unwrap(), Subset::jit());
        let wide = Subset::parse("i64, i32,sign-extension").unwrap();
        assert_eq!(wide.to_string(), "i32,i64,sign-extension");
        assert!(!wide.has_floats() && !wide.has_type(ValueType::FuncRef));
        let floats = Subset::parse("f64,i32,reference-types").unwrap();
        assert!(floats.has_floats() && floats.has_type(ValueType::ExternRef));
        assert!(!floats.has_type(ValueType::F32));
        assert_eq!(Subset::parse("i64"), Err(SubsetError::NoI32));
        assert_eq!(
            Subset::parse("i32,saturating-float-to-int"),
            Err(SubsetError::NeedsFloats)
        );
        assert!(matches!(
            Subset::parse("i32,simd"),
            Err(SubsetError::Unknown(_))
        ));
    }
}

//! Decodes the firmware's defmt log stream (rzcobs-encoded frames) with the `.defmt` table of
//! the firmware ELF, using `defmt-decoder`.

use std::fmt;
use std::path::Path;

use defmt_decoder::{DecodeError, Locations, StreamDecoder, Table};

/// Why a log could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The ELF could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The ELF file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The ELF has no `.defmt` section (not a defmt firmware, or stripped).
    #[error("the ELF has no .defmt section")]
    NoDefmtSection,
    /// `defmt-decoder` could not read the table (for example a defmt version mismatch).
    #[error("cannot read the defmt table: {0}")]
    Table(String),
    /// A log frame could not be decoded (the firmware and ELF differ, or bytes were lost); the
    /// stream continues at the next frame.
    #[error("malformed defmt frame (does the ELF match the firmware on the board?)")]
    Malformed,
}

/// The format table of one firmware ELF.
pub struct LogTable {
    /// Format strings, levels and the timestamp format.
    table: Table,
    /// Source locations, when the ELF has debug info.
    locations: Option<Locations>,
}

impl LogTable {
    /// Reads the table from ELF bytes.
    pub fn parse(elf: &[u8]) -> Result<Self, LogError> {
        let table = Table::parse(elf)
            .map_err(|error| LogError::Table(format!("{error:#}")))?
            .ok_or(LogError::NoDefmtSection)?;
        let locations = table
            .get_locations(elf)
            .ok()
            .filter(|locations| !locations.is_empty());
        Ok(LogTable { table, locations })
    }

    /// Reads the table from an ELF file.
    pub fn from_file(path: &Path) -> Result<Self, LogError> {
        let elf = std::fs::read(path).map_err(|source| LogError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&elf)
    }

    /// A decoder for one stream of log bytes.
    pub fn stream(&self) -> LogStream<'_> {
        LogStream {
            decoder: self.table.new_stream_decoder(),
            locations: self.locations.as_ref(),
        }
    }
}

/// Decodes a byte stream into log lines; bytes may arrive in any chunking.
pub struct LogStream<'t> {
    /// `defmt-decoder`'s stream state.
    decoder: Box<dyn StreamDecoder + Send + Sync + 't>,
    /// Source locations by format-string index.
    locations: Option<&'t Locations>,
}

impl LogStream<'_> {
    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.received(bytes);
    }

    /// The next complete line, `None` when more bytes are needed, or an error for a frame that
    /// was skipped.
    pub fn next_line(&mut self) -> Option<Result<LogLine, LogError>> {
        let locations = self.locations;
        match self.decoder.decode() {
            Ok(frame) => {
                let location = locations
                    .and_then(|locations| locations.get(&frame.index()))
                    .map(|location| format!("{}:{}", location.file.display(), location.line));
                Some(Ok(LogLine {
                    timestamp: frame
                        .display_timestamp()
                        .map(|timestamp| timestamp.to_string()),
                    level: frame.level().map(|level| level.as_str().to_owned()),
                    message: frame.display_message().to_string(),
                    location,
                }))
            }
            Err(DecodeError::UnexpectedEof) => None,
            Err(DecodeError::Malformed) => Some(Err(LogError::Malformed)),
        }
    }
}

/// One decoded log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The firmware's timestamp, formatted as the firmware declared it.
    pub timestamp: Option<String>,
    /// `trace`, `debug`, `info`, `warn` or `error`; `None` for `println!`.
    pub level: Option<String>,
    /// The formatted message.
    pub message: String,
    /// `file:line` of the log statement, when known.
    pub location: Option<String>,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(timestamp) = &self.timestamp {
            write!(f, "{timestamp} ")?;
        }
        let level = self.level.as_deref().unwrap_or("print").to_uppercase();
        write!(f, "{level:<5} {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF without a `.defmt` section is refused with its own error, not a panic.
    #[test]
    fn elf_without_defmt_section_is_refused() {
        let elf = crate::flash::tests::sample_firmware();
        assert!(matches!(
            LogTable::parse(&elf),
            Err(LogError::NoDefmtSection) | Err(LogError::Table(_))
        ));
        assert!(matches!(
            LogTable::from_file(Path::new("/nonexistent/firmware.elf")),
            Err(LogError::Io { .. })
        ));
    }

    /// A line shows timestamp, padded upper-case level and message; `println!` frames show
    /// `PRINT`.
    #[test]
    fn lines_read_like_a_log() {
        let line = LogLine {
            timestamp: Some("1.000250".into()),
            level: Some("info".into()),
            message: "tsc 1000 MHz".into(),
            location: None,
        };
        assert_eq!(line.to_string(), "1.000250 INFO  tsc 1000 MHz");
        let print = LogLine {
            timestamp: None,
            level: None,
            message: "hi".into(),
            location: None,
        };
        assert_eq!(print.to_string(), "PRINT hi");
    }
}

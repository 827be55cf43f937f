//! Turns a firmware ELF into the board's 4 MiB flash image.
//!
//! The flash chip is mapped at [`FLASH_BASE`]..=0xFFFF_FFFF; the CPU starts at [`RESET_VECTOR`].
//! Every `PT_LOAD` segment whose physical address (its LMA) lies in flash is copied to image
//! offset `p_paddr - FLASH_BASE`. Segments that live only in RAM (`.bss`, `p_filesz == 0`) are
//! skipped. Bytes outside the segments are left as they are, so the board configuration sector
//! and any data written by the board survive a reflash.
//!
//! A QEMU board also gets a second flash chip, pflash unit 1, for the plugin store: a file of
//! [`STORE_SIZE`] erased bytes beside the firmware image ([`store_image_path`]), created on first
//! use and kept across reboots and reflashes. QEMU maps it just below unit 0.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use object::LittleEndian;
use object::elf::{ELFCLASS32, ELFDATA2LSB, EM_386, FileHeader32, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};

use crate::board::config::{CONFIG_OFFSET, CONFIG_SECTOR_SIZE};

/// Size of the flash image: one 4 MiB CFI chip.
pub const FLASH_SIZE: usize = 4 * 1024 * 1024;
/// Physical address of the first flash byte (4 GiB minus [`FLASH_SIZE`]).
pub const FLASH_BASE: u32 = 0xFFC0_0000;
/// Where an x86 CPU fetches its first instruction (Intel SDM vol. 3A, 9.1.4).
pub const RESET_VECTOR: u32 = 0xFFFF_FFF0;
/// The value of an erased flash byte.
pub const ERASED_BYTE: u8 = 0xFF;
/// Size of the plugin store's chip (pflash unit 1): 512 blocks of 4 KiB. QEMU's pc machine maps
/// at most 8 MiB of pflash in all (`hw/i386/pc_sysfw.c`), and the firmware's chip takes 4.
pub const STORE_SIZE: usize = 2 * 1024 * 1024;
/// The suffix of a store image's file name, after the firmware image's name.
pub const STORE_SUFFIX: &str = ".store";

/// Why a firmware could not be put into an image.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The file is not an ELF file at all.
    #[error("not an ELF file")]
    NotElf,
    /// The ELF is not 32-bit little-endian.
    #[error("not a 32-bit little-endian ELF (the board is i386)")]
    WrongClass,
    /// The ELF is for another machine.
    #[error("ELF machine is {machine}, not i386 (EM_386 = 3)")]
    WrongMachine {
        /// `e_machine` from the header.
        machine: u16,
    },
    /// The ELF's headers are inconsistent.
    #[error("malformed ELF: {0}")]
    Malformed(String),
    /// A segment with contents lies (partly) outside flash.
    #[error(
        "segment at physical {paddr:#010x} ({size} bytes) does not fit in flash ({FLASH_BASE:#010x}..=0xffffffff)"
    )]
    SegmentOutsideFlash {
        /// Its physical address.
        paddr: u32,
        /// Its size in the file.
        size: u32,
    },
    /// A segment overlaps the board configuration sector.
    #[error(
        "segment at physical {paddr:#010x} ({size} bytes) overlaps the board configuration sector at image offset {CONFIG_OFFSET:#x}"
    )]
    OverlapsConfig {
        /// Its physical address.
        paddr: u32,
        /// Its size in the file.
        size: u32,
    },
    /// No segment covers the reset vector, so the board would not boot.
    #[error("no segment covers the reset vector {RESET_VECTOR:#010x}")]
    NoResetVector,
    /// An existing image has the wrong size.
    #[error("{path} is {len} bytes, but a flash image is exactly {FLASH_SIZE} bytes")]
    ImageSize {
        /// The image file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// An existing store image has the wrong size.
    #[error("{path} is {len} bytes, but a store image is exactly {STORE_SIZE} bytes")]
    StoreSize {
        /// The store image.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// One `PT_LOAD` segment that goes into flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashSegment {
    /// Physical (load) address, inside flash.
    pub paddr: u32,
    /// Virtual (run) address; differs from `paddr` for `.data`, which is copied to RAM at boot.
    pub vaddr: u32,
    /// The segment's file contents.
    pub data: Vec<u8>,
}

impl FlashSegment {
    /// Where the segment goes in the image.
    pub fn image_range(&self) -> Range<usize> {
        let start = (self.paddr - FLASH_BASE) as usize;
        start..start + self.data.len()
    }
}

/// A validated firmware ELF: the segments to write into flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareElf {
    /// The ELF entry point.
    pub entry: u32,
    /// The segments to write, in file order.
    pub segments: Vec<FlashSegment>,
}

impl FirmwareElf {
    /// Parses and validates an ELF: i386, every segment with contents inside flash and outside
    /// the configuration sector, and the reset vector covered.
    pub fn parse(bytes: &[u8]) -> Result<Self, FlashError> {
        if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err(FlashError::NotElf);
        }
        if bytes.get(4) != Some(&ELFCLASS32.0) || bytes.get(5) != Some(&ELFDATA2LSB.0) {
            return Err(FlashError::WrongClass);
        }
        let malformed = |error: object::Error| FlashError::Malformed(error.to_string());
        let header = FileHeader32::<LittleEndian>::parse(bytes).map_err(malformed)?;
        let endian = LittleEndian;
        let machine = header.e_machine(endian).0;
        if machine != EM_386.0 {
            return Err(FlashError::WrongMachine { machine });
        }
        let mut segments = Vec::new();
        for program_header in header.program_headers(endian, bytes).map_err(malformed)? {
            if program_header.p_type(endian) != PT_LOAD || program_header.p_filesz(endian) == 0 {
                continue;
            }
            let paddr = program_header.p_paddr(endian);
            let data = program_header
                .data(endian, bytes)
                .map_err(|()| FlashError::Malformed("segment data past end of file".into()))?;
            let size = program_header.p_filesz(endian);
            let end = u64::from(paddr) + u64::from(size);
            if paddr < FLASH_BASE || end > 1 << 32 {
                return Err(FlashError::SegmentOutsideFlash { paddr, size });
            }
            let segment = FlashSegment {
                paddr,
                vaddr: program_header.p_vaddr(endian),
                data: data.to_vec(),
            };
            let range = segment.image_range();
            if range.start < CONFIG_OFFSET + CONFIG_SECTOR_SIZE && CONFIG_OFFSET < range.end {
                return Err(FlashError::OverlapsConfig { paddr, size });
            }
            segments.push(segment);
        }
        let covers_reset = |segment: &FlashSegment| {
            segment
                .image_range()
                .contains(&((RESET_VECTOR - FLASH_BASE) as usize))
        };
        if !segments.iter().any(covers_reset) {
            return Err(FlashError::NoResetVector);
        }
        Ok(FirmwareElf {
            entry: header.e_entry(endian),
            segments,
        })
    }

    /// Reads and parses an ELF file.
    pub fn from_file(path: &Path) -> Result<Self, FlashError> {
        let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
        Self::parse(&bytes)
    }

    /// Total bytes the segments occupy in flash.
    pub fn flash_bytes(&self) -> usize {
        self.segments.iter().map(|segment| segment.data.len()).sum()
    }

    /// The lowest image offset any segment uses.
    pub fn lowest_image_offset(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| segment.image_range().start)
            .min()
            .unwrap_or(FLASH_SIZE)
    }

    /// Copies the segments into `image`, which must be [`FLASH_SIZE`] bytes (checked by
    /// construction: every range was validated against the flash window).
    pub fn write_into(&self, image: &mut [u8; FLASH_SIZE]) {
        for segment in &self.segments {
            image[segment.image_range()].copy_from_slice(&segment.data);
        }
    }

    /// A fresh, erased image holding only this firmware.
    pub fn to_image(&self) -> Box<[u8; FLASH_SIZE]> {
        let mut image = erased_image();
        self.write_into(&mut image);
        image
    }
}

/// What [`flash_image_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashOutcome {
    /// The image file did not exist and was created.
    pub created: bool,
    /// Firmware bytes written.
    pub bytes_written: usize,
    /// Segments written.
    pub segments: usize,
}

/// A 4 MiB image with every byte erased (0xFF).
pub fn erased_image() -> Box<[u8; FLASH_SIZE]> {
    vec![ERASED_BYTE; FLASH_SIZE]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has FLASH_SIZE bytes"))
}

/// Reads a flash image file, checking its size.
pub fn read_image(path: &Path) -> Result<Box<[u8; FLASH_SIZE]>, FlashError> {
    let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
    let len = bytes.len() as u64;
    bytes
        .into_boxed_slice()
        .try_into()
        .map_err(|_| FlashError::ImageSize {
            path: path.to_owned(),
            len,
        })
}

/// Writes an image file through a temporary file in the same directory, so a failure never
/// leaves half an image behind.
pub fn write_image(path: &Path, image: &[u8; FLASH_SIZE]) -> Result<(), FlashError> {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{file_name}.kplug-tmp"));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(image)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&temporary);
        io_error(path, source)
    })
}

/// Writes `firmware` into the image at `path`, creating an erased image first if the file does
/// not exist. Everything outside the firmware's segments is preserved.
pub fn flash_image_file(path: &Path, firmware: &FirmwareElf) -> Result<FlashOutcome, FlashError> {
    let created = !path.exists();
    let mut image = if created {
        erased_image()
    } else {
        read_image(path)?
    };
    firmware.write_into(&mut image);
    write_image(path, &image)?;
    Ok(FlashOutcome {
        created,
        bytes_written: firmware.flash_bytes(),
        segments: firmware.segments.len(),
    })
}

/// The plugin store's image for the firmware image `image`: the same name with [`STORE_SUFFIX`]
/// added (`board.flash` -> `board.flash.store`).
pub fn store_image_path(image: &Path) -> PathBuf {
    let mut name = image.file_name().unwrap_or_default().to_os_string();
    name.push(STORE_SUFFIX);
    image.with_file_name(name)
}

/// Makes sure the store image at `path` exists with [`STORE_SIZE`] bytes: creates an erased one
/// if the file is missing (returns `true`), leaves an existing one untouched, and refuses one of
/// another size rather than resizing it (which would lose or invent data).
pub fn ensure_store_image(path: &Path) -> Result<bool, FlashError> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.len() == STORE_SIZE as u64 => Ok(false),
        Ok(metadata) => Err(FlashError::StoreSize {
            path: path.to_owned(),
            len: metadata.len(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let file_name = path.file_name().unwrap_or_default().to_string_lossy();
            let temporary = path.with_file_name(format!(".{file_name}.kplug-tmp"));
            let result = (|| {
                let mut file = fs::File::create(&temporary)?;
                file.write_all(&vec![ERASED_BYTE; STORE_SIZE])?;
                file.sync_all()?;
                fs::rename(&temporary, path)
            })();
            result.map_err(|source| {
                let _ = fs::remove_file(&temporary);
                io_error(path, source)
            })?;
            Ok(true)
        }
        Err(source) => Err(io_error(path, source)),
    }
}

/// Attaches a path to an I/O error.
fn io_error(path: &Path, source: std::io::Error) -> FlashError {
    FlashError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `e_machine` of x86-64, for the wrong-machine test.
    const EM_X86_64: u16 = 62;
    /// `p_type` of a `PT_NOTE` segment, which must be ignored.
    const PT_NOTE: u32 = 4;
    /// Size of an ELF32 file header.
    const EHDR_SIZE: usize = 52;
    /// Size of an ELF32 program header.
    const PHDR_SIZE: usize = 32;

    /// A program header for [`elf32`]: type, paddr, vaddr, contents, memory size.
    pub(crate) struct TestSegment {
        pub p_type: u32,
        pub paddr: u32,
        pub vaddr: u32,
        pub data: Vec<u8>,
        pub mem_size: u32,
    }

    impl TestSegment {
        /// A `PT_LOAD` segment whose load and run addresses are equal.
        pub fn load(paddr: u32, data: Vec<u8>) -> Self {
            let mem_size = data.len() as u32;
            TestSegment {
                p_type: PT_LOAD.0,
                paddr,
                vaddr: paddr,
                data,
                mem_size,
            }
        }
    }

    /// Builds a minimal little-endian ELF32 executable: header, program headers, segment data.
    pub(crate) fn elf32(machine: u16, entry: u32, segments: &[TestSegment]) -> Vec<u8> {
        let phoff = EHDR_SIZE;
        let mut data_offset = phoff + PHDR_SIZE * segments.len();
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[1, 1, 1, 0]); // ELFCLASS32, ELFDATA2LSB, EV_CURRENT, SYSV ABI
        out.extend_from_slice(&[0; 8]); // ABI version + padding
        out.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
        out.extend_from_slice(&machine.to_le_bytes()); // e_machine
        out.extend_from_slice(&1u32.to_le_bytes()); // e_version
        out.extend_from_slice(&entry.to_le_bytes()); // e_entry
        out.extend_from_slice(&(phoff as u32).to_le_bytes()); // e_phoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff: no sections
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        out.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes()); // e_ehsize
        out.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes()); // e_phentsize
        out.extend_from_slice(&(segments.len() as u16).to_le_bytes()); // e_phnum
        out.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        assert_eq!(out.len(), EHDR_SIZE);
        for segment in segments {
            out.extend_from_slice(&segment.p_type.to_le_bytes());
            out.extend_from_slice(&(data_offset as u32).to_le_bytes()); // p_offset
            out.extend_from_slice(&segment.vaddr.to_le_bytes());
            out.extend_from_slice(&segment.paddr.to_le_bytes());
            out.extend_from_slice(&(segment.data.len() as u32).to_le_bytes()); // p_filesz
            out.extend_from_slice(&segment.mem_size.to_le_bytes()); // p_memsz
            out.extend_from_slice(&5u32.to_le_bytes()); // p_flags = R+X
            out.extend_from_slice(&16u32.to_le_bytes()); // p_align
            data_offset += segment.data.len();
        }
        for segment in segments {
            out.extend_from_slice(&segment.data);
        }
        out
    }

    /// A firmware like the real one: code at the flash base, `.data` loaded from flash but run in
    /// RAM, `.bss` in RAM only, and a reset stub in the last 16 bytes.
    pub(crate) fn sample_firmware() -> Vec<u8> {
        let bss = TestSegment {
            p_type: PT_LOAD.0,
            paddr: 0x0010_0000,
            vaddr: 0x0010_0000,
            data: Vec::new(),
            mem_size: 0x1000,
        };
        let data = TestSegment {
            p_type: PT_LOAD.0,
            paddr: FLASH_BASE + 0x100,
            vaddr: 0x0020_0000,
            data: vec![0xDA; 8],
            mem_size: 8,
        };
        let note = TestSegment {
            p_type: PT_NOTE,
            paddr: 0,
            vaddr: 0,
            data: vec![1, 2, 3, 4],
            mem_size: 4,
        };
        elf32(
            EM_386.0,
            FLASH_BASE,
            &[
                TestSegment::load(FLASH_BASE, vec![0xC0; 0x100]),
                data,
                bss,
                note,
                TestSegment::load(RESET_VECTOR, vec![0xEA; 16]),
            ],
        )
    }

    /// Flash segments land at `paddr - FLASH_BASE` (`.data` at its load address, not its run
    /// address); RAM-only segments and non-LOAD segments are skipped.
    #[test]
    fn segments_land_at_their_physical_addresses() {
        let firmware = FirmwareElf::parse(&sample_firmware()).unwrap();
        assert_eq!(firmware.entry, FLASH_BASE);
        assert_eq!(firmware.segments.len(), 3);
        assert_eq!(firmware.flash_bytes(), 0x100 + 8 + 16);
        assert_eq!(firmware.lowest_image_offset(), 0);
        let image = firmware.to_image();
        assert!(image[..0x100].iter().all(|b| *b == 0xC0));
        assert_eq!(&image[0x100..0x108], &[0xDA; 8]);
        assert_eq!(image[0x108], ERASED_BYTE);
        assert_eq!(&image[FLASH_SIZE - 16..], &[0xEA; 16]);
        let written = 0x100 + 8 + 16;
        let erased = image.iter().filter(|b| **b == ERASED_BYTE).count();
        assert_eq!(erased, FLASH_SIZE - written);
    }

    /// Flashing an existing image keeps bytes outside the segments, including the configuration
    /// sector; flashing a missing file creates an erased image first.
    #[test]
    fn flashing_preserves_everything_outside_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let firmware = FirmwareElf::parse(&sample_firmware()).unwrap();

        let path = dir.path().join("new.flash");
        let outcome = flash_image_file(&path, &firmware).unwrap();
        assert!(outcome.created);
        assert_eq!(outcome.segments, 3);
        assert_eq!(*read_image(&path).unwrap(), *firmware.to_image());

        let mut old = vec![0x55; FLASH_SIZE];
        old[CONFIG_OFFSET..CONFIG_OFFSET + 4].copy_from_slice(b"KPCF");
        let path = dir.path().join("old.flash");
        fs::write(&path, &old).unwrap();
        let outcome = flash_image_file(&path, &firmware).unwrap();
        assert!(!outcome.created);
        let image = read_image(&path).unwrap();
        assert_eq!(&image[CONFIG_OFFSET..CONFIG_OFFSET + 4], b"KPCF");
        assert_eq!(image[0x108], 0x55);
        assert_eq!(image[0xFF], 0xC0);
        assert_eq!(image[FLASH_SIZE - 1], 0xEA);
    }

    /// An image of the wrong size is refused rather than resized.
    #[test]
    fn wrong_sized_image_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.flash");
        fs::write(&path, [0xFF; 1024]).unwrap();
        let firmware = FirmwareElf::parse(&sample_firmware()).unwrap();
        assert!(matches!(
            flash_image_file(&path, &firmware),
            Err(FlashError::ImageSize { len: 1024, .. })
        ));
        assert_eq!(fs::read(&path).unwrap().len(), 1024);
    }

    /// The store image sits beside the firmware image, is created erased at its size once, is
    /// kept as it is afterwards, and one of the wrong size is refused, not resized.
    #[test]
    fn store_image_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("board.flash");
        let store = store_image_path(&image);
        assert_eq!(store, dir.path().join("board.flash.store"));
        assert!(ensure_store_image(&store).unwrap());
        let bytes = fs::read(&store).unwrap();
        assert_eq!(bytes.len(), STORE_SIZE);
        assert!(bytes.iter().all(|byte| *byte == ERASED_BYTE));
        let mut written = bytes;
        written[100] = 0x42;
        fs::write(&store, &written).unwrap();
        assert!(!ensure_store_image(&store).unwrap());
        assert_eq!(fs::read(&store).unwrap()[100], 0x42);
        fs::write(&store, [0xFF; 4096]).unwrap();
        assert!(matches!(
            ensure_store_image(&store),
            Err(FlashError::StoreSize { len: 4096, .. })
        ));
        assert_eq!(fs::read(&store).unwrap().len(), 4096);
    }

    /// Each kind of unusable ELF gets its own error.
    #[test]
    fn unusable_elves_are_refused() {
        let reset = || TestSegment::load(RESET_VECTOR, vec![0; 16]);
        assert!(matches!(
            FirmwareElf::parse(b"MZ\x90\x00"),
            Err(FlashError::NotElf)
        ));
        let mut elf64 = sample_firmware();
        elf64[4] = 2;
        assert!(matches!(
            FirmwareElf::parse(&elf64),
            Err(FlashError::WrongClass)
        ));
        assert!(matches!(
            FirmwareElf::parse(&elf32(EM_X86_64, 0, &[reset()])),
            Err(FlashError::WrongMachine { machine: 62 })
        ));
        assert!(matches!(
            FirmwareElf::parse(&sample_firmware()[..60]),
            Err(FlashError::Malformed(_))
        ));
        // Contents below flash (a RAM address) would be lost.
        let in_ram = TestSegment::load(0x0010_0000, vec![1; 4]);
        assert!(matches!(
            FirmwareElf::parse(&elf32(EM_386.0, 0, &[in_ram, reset()])),
            Err(FlashError::SegmentOutsideFlash {
                paddr: 0x0010_0000,
                ..
            })
        ));
        // Running past 4 GiB.
        let past_end = TestSegment::load(RESET_VECTOR, vec![0; 32]);
        assert!(matches!(
            FirmwareElf::parse(&elf32(EM_386.0, 0, &[past_end])),
            Err(FlashError::SegmentOutsideFlash { .. })
        ));
        let config = TestSegment::load(FLASH_BASE + CONFIG_OFFSET as u32 + 0x10, vec![0; 4]);
        assert!(matches!(
            FirmwareElf::parse(&elf32(EM_386.0, 0, &[config, reset()])),
            Err(FlashError::OverlapsConfig { .. })
        ));
        let no_reset = TestSegment::load(FLASH_BASE, vec![0; 16]);
        assert!(matches!(
            FirmwareElf::parse(&elf32(EM_386.0, 0, &[no_reset])),
            Err(FlashError::NoResetVector)
        ));
    }
}

//! The two things the tasks read from ELF files: whether a binary needs a
//! dynamic loader (an initramfs has none), and a kernel module's `.modinfo`.

use object::read::elf::{FileHeader, ProgramHeader};
use object::{Object, ObjectSection};

/// True for an ELF with a PT_INTERP program header.
pub fn is_dynamic(data: &[u8]) -> bool {
    let Ok(header) = object::elf::FileHeader64::<object::Endianness>::parse(data) else { return false };
    let Ok(endian) = header.endian() else { return false };
    let Ok(phdrs) = header.program_headers(endian, data) else { return false };
    phdrs.iter().any(|p| p.p_type(endian) == object::elf::PT_INTERP)
}

/// The `key=value` entries of a kernel module's `.modinfo` section, in order.
pub fn modinfo(data: &[u8]) -> Option<Vec<(String, String)>> {
    let file = object::File::parse(data).ok()?;
    let section = file.section_by_name(".modinfo")?;
    let bytes = section.data().ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter_map(|entry| {
                let entry = std::str::from_utf8(entry).ok()?;
                let (k, v) = entry.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_elf_is_detected() {
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(is_dynamic(&sh));
        assert!(!is_dynamic(b"not an elf"));
    }

    #[test]
    fn garbage_has_no_modinfo() {
        assert!(modinfo(b"\x7fELF garbage").is_none());
    }
}

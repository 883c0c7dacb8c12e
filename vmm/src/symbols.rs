//! The guest kernel's symbols, for naming a crashed vCPU's RIP.
//!
//! Two sources: a `System.map` (Debian ships one beside each `vmlinuz`) or
//! the `.symtab` of an ELF vmlinux (berth's kernel keeps it). Which one is
//! used follows one rule ([`locate`]): an explicit path, else
//! `System.map-<suffix>` beside a `vmlinuz-<suffix>`, else `System.map`
//! beside the kernel, else the kernel ELF's own symbol table. Only text
//! symbols count, and only addresses inside the text range resolve: a wild
//! RIP gets no misleading name. A System.map lists the link-time addresses;
//! a kernel that randomises its base (KASLR) runs elsewhere, which the
//! resolution says rather than hides. This module parses and looks up; it
//! never touches a VM and is only called after the vCPUs have stopped (it
//! opens files, which the vCPU threads' seccomp filter refuses).

use std::path::{Path, PathBuf};

use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// `PT_LOAD`.
const PT_LOAD: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: no text symbols{hint}")]
    Empty { path: String, hint: String },
    #[error("{path}: not an ELF with a symbol table ({reason})")]
    NotElf { path: String, reason: String },
}

/// Where a table came from, which decides what its addresses mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Link-time addresses; a KASLR kernel runs at a slide from them.
    SystemMap,
    /// The ELF's own table, with its load segments' physical addresses.
    ElfSymtab,
}

/// One `PT_LOAD` segment: where it is linked and where it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    vaddr: u64,
    paddr: u64,
    size: u64,
}

/// A sorted table of text symbols.
#[derive(Debug, Clone)]
pub struct Symbols {
    names: Vec<(u64, String)>,
    text: (u64, u64),
    segments: Vec<Segment>,
    origin: Origin,
    /// The file, for the report.
    pub path: String,
}

/// A RIP named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub offset: u64,
    /// The virtual address looked up, when it is not the RIP itself (a
    /// physical RIP mapped through a load segment).
    pub via: Option<u64>,
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)?;
        if let Some(v) = self.via {
            write!(f, " (physical; linked at {v:#x})")?;
        }
        Ok(())
    }
}

impl Symbols {
    /// Parses `nm`-style lines: `ffffffff81000000 T _text`.
    pub fn from_system_map(text: &str, path: &str) -> Result<Self, SymbolsError> {
        let mut names = Vec::new();
        let (mut start, mut end) = (None, None);
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else { continue };
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            match name {
                "_text" | "_stext" if start.is_none() => start = Some(addr),
                "_etext" => end = Some(addr),
                _ => {}
            }
            if matches!(kind, "t" | "T") {
                names.push((addr, name.to_string()));
            }
        }
        if names.is_empty() {
            // Debian's package ships a one-line placeholder that says where
            // the real map is: say it.
            let said = text.lines().find_map(|l| l.splitn(3, ' ').nth(2)).map(str::trim).filter(|t| !t.is_empty());
            let hint = said.map(|t| format!(" (it says: {t:?})")).unwrap_or_default();
            return Err(SymbolsError::Empty { path: path.to_string(), hint });
        }
        Self::finish(names, start, end, Vec::new(), Origin::SystemMap, path)
    }

    /// Reads the text symbols of an ELF64 and its load segments.
    pub fn from_elf(bytes: &[u8], path: &str) -> Result<Self, SymbolsError> {
        let not_elf = |reason: String| SymbolsError::NotElf { path: path.to_string(), reason };
        let elf = ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| not_elf(e.to_string()))?;
        let endian = elf.endian();
        let segments = elf
            .elf_header()
            .program_headers(endian, bytes)
            .map_err(|e| not_elf(e.to_string()))?
            .iter()
            .filter(|p| p.p_type(endian) == PT_LOAD)
            .map(|p| Segment { vaddr: p.p_vaddr(endian), paddr: p.p_paddr(endian), size: p.p_memsz(endian) })
            .collect();
        let (mut start, mut end) = (None, None);
        let mut names = Vec::new();
        for sym in elf.symbols() {
            let Ok(name) = sym.name() else { continue };
            match name {
                "_text" | "_stext" if start.is_none() => start = Some(sym.address()),
                "_etext" => end = Some(sym.address()),
                _ => {}
            }
            // Assembly entry points (`pvh_start_xen`) are untyped: any
            // defined symbol in an executable section counts.
            let in_text = sym
                .section_index()
                .and_then(|i| elf.section_by_index(i).ok())
                .is_some_and(|sec| sec.kind() == SectionKind::Text);
            let code = matches!(sym.kind(), SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown);
            if code && in_text && !name.is_empty() && !name.starts_with(".L") {
                names.push((sym.address(), name.to_string()));
            }
        }
        Self::finish(names, start, end, segments, Origin::ElfSymtab, path)
    }

    fn finish(
        mut names: Vec<(u64, String)>,
        start: Option<u64>,
        end: Option<u64>,
        segments: Vec<Segment>,
        origin: Origin,
        path: &str,
    ) -> Result<Self, SymbolsError> {
        // Of names at one address, a function's wins over a section marker
        // (`_text` and `startup_64` share theirs).
        let marker = |n: &str| matches!(n, "_text" | "_stext" | "_etext");
        names.sort_by(|(a, x), (b, y)| (a, marker(x)).cmp(&(b, marker(y))));
        names.dedup_by_key(|(a, _)| *a);
        let (Some(first), Some(last)) = (names.first(), names.last()) else {
            return Err(SymbolsError::Empty { path: path.to_string(), hint: String::new() });
        };
        // Without `_etext`, the last function is given a page.
        let text = (start.unwrap_or(first.0), end.unwrap_or(last.0 + 0x1000));
        Ok(Symbols { names, text, segments, origin, path: path.to_string() })
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The text range, link-time addresses.
    pub fn text_range(&self) -> (u64, u64) {
        self.text
    }

    /// Names `addr`, if it is a text address. A physical address inside a
    /// load segment (a kernel running before paging, or identity-mapped)
    /// is looked up at its linked address.
    pub fn resolve(&self, addr: u64) -> Option<Resolved> {
        if let Some((name, offset)) = self.lookup(addr) {
            return Some(Resolved { name, offset, via: None });
        }
        let seg = self.segments.iter().find(|s| s.paddr != s.vaddr && (s.paddr..s.paddr + s.size).contains(&addr))?;
        let linked = addr - seg.paddr + seg.vaddr;
        let (name, offset) = self.lookup(linked)?;
        Some(Resolved { name, offset, via: Some(linked) })
    }

    fn lookup(&self, addr: u64) -> Option<(String, u64)> {
        if !(self.text.0..self.text.1).contains(&addr) {
            return None;
        }
        let i = self.names.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
        let (at, name) = &self.names[i];
        Some((name.clone(), addr - at))
    }
}

/// Which file holds the symbols of `kernel`, by the rule in the module
/// comment; `None` when there is nothing but the kernel itself.
pub fn locate(kernel: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let dir = kernel.parent().unwrap_or(Path::new("."));
    let file = kernel.file_name()?.to_str()?;
    if let Some(suffix) = file.strip_prefix("vmlinuz-") {
        let versioned = dir.join(format!("System.map-{suffix}"));
        if versioned.is_file() {
            return Some(versioned);
        }
    }
    let plain = dir.join("System.map");
    plain.is_file().then_some(plain)
}

/// Loads the symbols for `kernel`: a System.map found by [`locate`], else
/// the kernel's own ELF symbol table.
pub fn load(kernel: &Path, explicit: Option<&Path>) -> Result<Symbols, SymbolsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| SymbolsError::Read { path: p.to_path_buf(), source });
    match locate(kernel, explicit) {
        Some(map) => Symbols::from_system_map(&String::from_utf8_lossy(&read(&map)?), &map.display().to_string()),
        None => Symbols::from_elf(&read(kernel)?, &kernel.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "\
0000000000000000 A fixed_percpu_data
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000070 T secondary_startup_64
ffffffff81001000 t do_one_initcall
ffffffff81002000 D some_data
ffffffff81e00000 T _etext
";

    #[test]
    fn a_system_map_names_text_addresses_only() {
        let s = Symbols::from_system_map(MAP, "System.map").unwrap();
        assert_eq!(s.text_range(), (0xffff_ffff_8100_0000, 0xffff_ffff_81e0_0000));
        let r = s.resolve(0xffff_ffff_8100_0075).unwrap();
        assert_eq!(r.to_string(), "secondary_startup_64+0x5");
        assert_eq!(s.resolve(0xffff_ffff_8100_1234).unwrap().to_string(), "do_one_initcall+0x234");
        assert_eq!(s.resolve(0xffff_ffff_8000_0000), None, "below the text");
        assert_eq!(s.resolve(0xffff_ffff_81e0_0001), None, "past _etext");
        assert_eq!(s.resolve(0x100_0000), None, "a System.map knows no physical addresses");
        assert!(matches!(Symbols::from_system_map("garbage\n", "m"), Err(SymbolsError::Empty { .. })));
        let placeholder = "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n";
        let e = Symbols::from_system_map(placeholder, "System.map-6.1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "System.map-6.1: no text symbols (it says: \"The real System.map is in the linux-image-<version>-dbg package\")"
        );
    }

    /// The test binary is an ELF with a symbol table: this very function's
    /// address names it.
    #[test]
    fn an_elf_symtab_names_a_function() {
        let exe = std::env::current_exe().unwrap();
        let s = load(&exe, None).unwrap();
        assert_eq!(s.origin(), Origin::ElfSymtab);
        let bytes = std::fs::read(&exe).unwrap();
        let elf = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
        let me = elf
            .symbols()
            .find(|sym| sym.name().is_ok_and(|n| n.contains("an_elf_symtab_names_a_function")))
            .expect("the test function is in .symtab");
        let r = s.resolve(me.address() + 3).expect("resolves");
        assert!(r.name.contains("an_elf_symtab_names_a_function"), "{r}");
        assert_eq!(r.offset, 3);
        assert!(matches!(Symbols::from_elf(MAP.as_bytes(), "x"), Err(SymbolsError::NotElf { .. })));
    }

    /// A kernel ELF loaded at 16 MiB physical and linked at
    /// 0xffffffff81000000: a RIP before paging is found through the
    /// segment.
    #[test]
    fn a_physical_rip_is_named_through_the_load_segment() {
        let mut s = Symbols::from_system_map(MAP, "vmlinux").unwrap();
        s.segments = vec![Segment { vaddr: 0xffff_ffff_8100_0000, paddr: 0x100_0000, size: 0xe0_0000 }];
        let r = s.resolve(0x100_0072).unwrap();
        assert_eq!(r.to_string(), "secondary_startup_64+0x2 (physical; linked at 0xffffffff81000072)");
    }

    #[test]
    fn the_map_beside_the_kernel_is_found_by_the_rule() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("vmlinuz-6.1.0-57-amd64");
        std::fs::write(&k, b"x").unwrap();
        assert_eq!(locate(&k, None), None);
        std::fs::write(d.path().join("System.map"), MAP).unwrap();
        assert_eq!(locate(&k, None), Some(d.path().join("System.map")));
        std::fs::write(d.path().join("System.map-6.1.0-57-amd64"), MAP).unwrap();
        assert_eq!(locate(&k, None), Some(d.path().join("System.map-6.1.0-57-amd64")));
        assert_eq!(locate(&k, Some(Path::new("/m"))), Some(PathBuf::from("/m")));
        let s = load(&k, None).unwrap();
        assert_eq!(s.origin(), Origin::SystemMap);
    }
}

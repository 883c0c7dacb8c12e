//! What a crashed vCPU looked like: the report a triple fault, an
//! emulation failure, a failed VM entry or an unknown exit carries.
//!
//! It is taken in two steps. [`CrashReport::capture`] runs on the vCPU
//! thread before it leaves, since only that thread has the vCPU fd: the
//! registers (`KVM_GET_REGS`/`KVM_GET_SREGS`, both on the vCPU seccomp
//! list), KVM's exit data, and the instruction bytes at RIP read from guest
//! memory through the guest's own page tables ([`guest_walk`]). Then
//! [`CrashReport::complete`], on the thread that waited for the VM (which
//! may open files), names RIP from the kernel's symbols and adds the last
//! console lines. It only records: it never resumes, resets or changes the
//! vCPU.

use kvm_bindings::{KVM_INTERNAL_ERROR_EMULATION, KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES};
use kvm_ioctls::VcpuFd;
use vm_memory::GuestMemoryMmap;

use super::guest_walk::Paging;
use crate::symbols::{Origin, Symbols};

/// How many instruction bytes are read at RIP (an x86 instruction is at
/// most 15).
const CODE_BYTES: usize = 16;
/// `KVM_INTERNAL_ERROR_*` suberrors by number.
const SUBERRORS: [&str; 5] =
    ["", "emulation failure", "simultaneous exceptions", "delivery event", "unexpected exit reason"];

/// A code segment as the report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodeSegment {
    pub selector: u16,
    pub base: u64,
    pub l: bool,
    pub db: bool,
}

/// The registers the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuState {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub cr2: u64,
    pub paging: Paging,
    pub cs: CodeSegment,
}

/// What the report says instead of code and symbol when the registers are
/// the vCPU's power-on state.
const RESET_STATE: &str = "these are the vCPU's reset state, not the fault's: on AMD (SVM) KVM re-initialises a vCPU \
     that shut down, so the state at the triple fault is lost; the console lines are what is left of it (the host kernel's \
     kvm:kvm_exit tracepoint records RIP at the shutdown: cargo xtask bench boot-loop shows it)";

impl CpuState {
    /// Whether these are the registers of a vCPU just reset (RIP 0xfff0 in
    /// the 0xf000 segment, real mode): what KVM on AMD hands back after a
    /// shutdown, since SVM leaves the VMCB undefined and KVM INITs it.
    pub fn is_reset_state(&self) -> bool {
        self.rip == 0xfff0 && self.cs.selector == 0xf000 && self.cs.base == 0xffff_0000 && self.paging.cr0 & 1 == 0
    }

    /// The linear address of the next instruction: CS base + RIP (the base
    /// is ignored in long mode, and the address is 32 bits outside it).
    pub fn linear_rip(&self) -> u64 {
        if self.cs.l { self.rip } else { self.cs.base.wrapping_add(self.rip) & 0xffff_ffff }
    }
}

/// The bytes at RIP, or as many as are mapped and why not more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Code {
    pub gpa: Option<u64>,
    pub bytes: Vec<u8>,
    pub missing: Option<String>,
}

/// A crashed vCPU's state, with what the host knows around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashReport {
    /// The registers, or why they could not be read.
    pub cpu: Result<CpuState, String>,
    pub code: Code,
    /// KVM's own lines about the exit (suberror, data words).
    pub kvm: Vec<String>,
    /// The instruction bytes KVM reported with an emulation failure.
    pub kvm_insn: Option<Vec<u8>>,
    /// RIP's symbol, or why it has none, once [`CrashReport::complete`]
    /// ran.
    pub symbol: Option<String>,
    /// The last console lines, oldest first.
    pub console: Vec<String>,
}

impl Default for CrashReport {
    fn default() -> Self {
        CrashReport {
            cpu: Err("not captured".into()),
            code: Code::default(),
            kvm: Vec::new(),
            kvm_insn: None,
            symbol: None,
            console: Vec::new(),
        }
    }
}

impl CrashReport {
    /// Reads the vCPU's registers and the bytes at RIP. `kvm` are lines
    /// about the exit already known to the caller.
    pub fn capture(fd: &VcpuFd, mem: &GuestMemoryMmap, kvm: Vec<String>) -> Self {
        let cpu = match (fd.get_regs(), fd.get_sregs()) {
            (Ok(r), Ok(s)) => Ok(CpuState {
                rip: r.rip,
                rsp: r.rsp,
                rflags: r.rflags,
                rax: r.rax,
                rbx: r.rbx,
                rcx: r.rcx,
                rdx: r.rdx,
                rsi: r.rsi,
                rdi: r.rdi,
                rbp: r.rbp,
                cr2: s.cr2,
                paging: Paging { cr0: s.cr0, cr3: s.cr3, cr4: s.cr4, efer: s.efer },
                cs: CodeSegment { selector: s.cs.selector, base: s.cs.base, l: s.cs.l != 0, db: s.cs.db != 0 },
            }),
            (Err(e), _) => Err(format!("KVM_GET_REGS failed: {e}")),
            (_, Err(e)) => Err(format!("KVM_GET_SREGS failed: {e}")),
        };
        let code = match &cpu {
            Ok(c) if c.is_reset_state() => Code { missing: Some(RESET_STATE.into()), ..Code::default() },
            Ok(c) => read_code(c, mem),
            Err(_) => Code { missing: Some("registers unknown".into()), ..Code::default() },
        };
        CrashReport { cpu, code, kvm, ..CrashReport::default() }
    }

    /// Names RIP from `symbols` (or says why not) and adds the console's
    /// last lines.
    pub fn complete(&mut self, symbols: Result<&Symbols, String>, console: Vec<String>) {
        self.console = console;
        let Some(cpu) = self.cpu.as_ref().ok().filter(|c| !c.is_reset_state()) else { return };
        self.symbol = Some(match symbols {
            Err(why) => format!("RIP not named: {why}"),
            Ok(s) => match s.resolve(cpu.rip) {
                Some(r) if s.origin() == Origin::SystemMap => format!(
                    "RIP is {r} ({}; link-time addresses: if this kernel randomised its base (KASLR) the name may be off by the slide)",
                    s.path
                ),
                Some(r) => format!("RIP is {r} ({})", s.path),
                None => {
                    let (start, end) = s.text_range();
                    let kaslr = if s.origin() == Origin::SystemMap {
                        "; a KASLR kernel runs at a slide from the map's addresses"
                    } else {
                        ""
                    };
                    format!(
                        "RIP not named: {:#x} is outside the kernel text {start:#x}..{end:#x} of {}{kaslr}",
                        cpu.rip, s.path
                    )
                }
            },
        });
    }

    /// RIP and what names it, in one line for a log: the symbol (or why
    /// there is none), or that the registers are the vCPU's reset state.
    pub fn summary(&self) -> String {
        match &self.cpu {
            Err(e) => e.clone(),
            Ok(c) if c.is_reset_state() => format!("RIP={:#x}; the vCPU's reset state", c.rip),
            Ok(c) => format!("RIP={:#x}; {}", c.rip, self.symbol.as_deref().unwrap_or_default()),
        }
    }
}

/// Reads the bytes at RIP through the guest's page tables.
fn read_code(cpu: &CpuState, mem: &GuestMemoryMmap) -> Code {
    let linear = cpu.linear_rip();
    let gpa = cpu.paging.translate(mem, linear).ok();
    let (bytes, missing) = cpu.paging.read(mem, linear, CODE_BYTES);
    Code { gpa, bytes, missing: missing.map(|e| e.to_string()) }
}

/// KVM's data for a `KVM_EXIT_INTERNAL_ERROR`: a line naming the suberror
/// and its data words, and the instruction bytes of an emulation failure
/// when KVM sent them (`KVM_CAP_EXIT_ON_EMULATION_FAILURE`).
pub fn internal_error(fd: &mut VcpuFd) -> (u32, Vec<String>, Option<Vec<u8>>) {
    let run = fd.get_kvm_run();
    // SAFETY: after a KVM_EXIT_INTERNAL_ERROR exit KVM filled the
    // `internal` member of the union (`emulation_failure` shares its first
    // two words and, with the instruction-bytes flag set, has the rest); all
    // fields are plain integers, valid for any bit pattern.
    let (internal, emulation) = unsafe { (run.__bindgen_anon_1.internal, run.__bindgen_anon_1.emulation_failure) };
    let sub = internal.suberror;
    let name = SUBERRORS.get(sub as usize).copied().filter(|n| !n.is_empty()).unwrap_or("unknown");
    let ndata = (internal.ndata as usize).min(internal.data.len());
    let mut lines = vec![format!("KVM internal error suberror {sub} ({name}), {ndata} data words")];
    let mut insn = None;
    if sub == KVM_INTERNAL_ERROR_EMULATION
        && emulation.flags & u64::from(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0
    {
        // SAFETY: as above; the flag says the instruction bytes are there.
        let bytes = unsafe { emulation.__bindgen_anon_1.__bindgen_anon_1 };
        let n = usize::from(bytes.insn_size).min(bytes.insn_bytes.len());
        insn = Some(bytes.insn_bytes[..n].to_vec());
    } else if ndata > 0 {
        let words: Vec<String> = internal.data[..ndata].iter().map(|w| format!("{w:#x}")).collect();
        lines.push(format!("KVM data: {}", words.join(" ")));
    }
    (sub, lines, insn)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

impl std::fmt::Display for CrashReport {
    /// One fact per line, each indented two spaces, so that the exit's
    /// first line stays the one to grep.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.kvm {
            write!(f, "\n  {line}")?;
        }
        match &self.cpu {
            Err(e) => write!(f, "\n  registers: {e}")?,
            Ok(c) => {
                let p = &c.paging;
                write!(f, "\n  RIP={:#018x} RSP={:#018x} RFLAGS={:#x}", c.rip, c.rsp, c.rflags)?;
                write!(
                    f,
                    "\n  CR0={:#x} CR2={:#x} CR3={:#x} CR4={:#x} EFER={:#x} ({})",
                    p.cr0,
                    c.cr2,
                    p.cr3,
                    p.cr4,
                    p.efer,
                    p.mode()
                )?;
                write!(
                    f,
                    "\n  CS={:#06x} base={:#x} l={} db={}",
                    c.cs.selector,
                    c.cs.base,
                    u8::from(c.cs.l),
                    u8::from(c.cs.db)
                )?;
                write!(
                    f,
                    "\n  RAX={:#x} RBX={:#x} RCX={:#x} RDX={:#x} RSI={:#x} RDI={:#x} RBP={:#x}",
                    c.rax, c.rbx, c.rcx, c.rdx, c.rsi, c.rdi, c.rbp
                )?;
                if c.is_reset_state() {
                    write!(f, "\n  {RESET_STATE}")?;
                } else {
                    let at =
                        self.code.gpa.map_or_else(|| "not mapped".to_string(), |g| format!("guest-physical {g:#x}"));
                    write!(f, "\n  code at RIP ({at}): ")?;
                    if self.code.bytes.is_empty() {
                        f.write_str("none readable")?;
                    } else {
                        f.write_str(&hex(&self.code.bytes))?;
                    }
                    if let Some(why) = &self.code.missing {
                        write!(f, " [then {why}]")?;
                    }
                }
            }
        }
        if let Some(insn) = &self.kvm_insn {
            write!(f, "\n  instruction bytes KVM could not emulate: {}", hex(insn))?;
        }
        if let Some(sym) = &self.symbol {
            write!(f, "\n  {sym}")?;
        }
        if !self.console.is_empty() {
            write!(f, "\n  last console lines:")?;
            for line in &self.console {
                write!(f, "\n  | {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CrashReport {
        let cpu = CpuState {
            rip: 0x100_0000,
            rsp: 0x8ff0,
            rflags: 0x10002,
            cs: CodeSegment { selector: 0x10, base: 0, l: false, db: true },
            paging: Paging { cr0: 0x11, ..Paging::default() },
            ..CpuState::default()
        };
        CrashReport {
            cpu: Ok(cpu),
            code: Code {
                gpa: Some(0x100_0000),
                bytes: vec![0x0f, 0x0b],
                missing: Some("guest-physical 0x1000002 is outside guest RAM".into()),
            },
            ..CrashReport::default()
        }
    }

    #[test]
    fn the_report_prints_registers_code_symbol_and_console() {
        let mut r = report();
        let map = "ffffffff81000000 T _text\nffffffff81000000 T pvh_start_xen\nffffffff81e00000 T _etext\n";
        let syms = Symbols::from_system_map(map, "System.map-6.1").unwrap();
        r.complete(Ok(&syms), vec!["[    0.000000] Linux version 6.1".into(), "boom".into()]);
        let text = r.to_string();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines[0], "  RIP=0x0000000001000000 RSP=0x0000000000008ff0 RFLAGS=0x10002");
        assert_eq!(lines[1], "  CR0=0x11 CR2=0x0 CR3=0x0 CR4=0x0 EFER=0x0 (paging off)");
        assert_eq!(lines[2], "  CS=0x0010 base=0x0 l=0 db=1");
        assert_eq!(
            lines[4],
            "  code at RIP (guest-physical 0x1000000): 0f 0b [then guest-physical 0x1000002 is outside guest RAM]"
        );
        assert!(lines[5].starts_with("  RIP not named: 0x1000000 is outside the kernel text"), "{}", lines[5]);
        assert!(lines[5].contains("KASLR"), "{}", lines[5]);
        assert!(r.summary().starts_with("RIP=0x1000000; RIP not named: 0x1000000 is outside"), "{}", r.summary());
        assert_eq!(&lines[6..], ["  last console lines:", "  | [    0.000000] Linux version 6.1", "  | boom"]);
    }

    #[test]
    fn a_report_without_registers_or_symbols_says_so() {
        let mut r = CrashReport {
            cpu: Err("KVM_GET_REGS failed: EBADF".into()),
            kvm: vec!["KVM internal error suberror 1 (emulation failure), 0 data words".into()],
            kvm_insn: Some(vec![0xc4, 0xe2]),
            ..CrashReport::default()
        };
        r.complete(Err("no map".into()), Vec::new());
        assert_eq!(
            r.to_string(),
            "\n  KVM internal error suberror 1 (emulation failure), 0 data words\n  registers: KVM_GET_REGS failed: EBADF\n  instruction bytes KVM could not emulate: c4 e2"
        );
        let mut r = report();
        r.code = Code::default();
        r.code.missing = Some("not mapped: level-4 entry 0x0 at 0x1000 is not present".into());
        r.complete(Err("vmlinuz has no symbols".into()), Vec::new());
        let text = r.to_string();
        assert!(text.contains("code at RIP (not mapped): none readable [then not mapped: level-4"), "{text}");
        assert!(text.ends_with("RIP not named: vmlinuz has no symbols"), "{text}");
    }

    /// KVM on AMD INITs a vCPU after a shutdown: the report says the
    /// registers are that, and names no code or symbol from them.
    #[test]
    fn a_reset_vcpu_is_called_reset_and_nothing_is_read_from_it() {
        let reset = CpuState {
            rip: 0xfff0,
            rdx: 0x800f12,
            cs: CodeSegment { selector: 0xf000, base: 0xffff_0000, ..CodeSegment::default() },
            paging: Paging { cr0: 0x10, ..Paging::default() },
            ..CpuState::default()
        };
        assert!(reset.is_reset_state());
        let mut r = CrashReport { cpu: Ok(reset), ..CrashReport::default() };
        let map = "ffffffff81000000 T _text\nffffffff81e00000 T _etext\n";
        let syms = Symbols::from_system_map(map, "System.map").unwrap();
        r.complete(Ok(&syms), vec!["last words".into()]);
        let text = r.to_string();
        assert!(text.contains("RIP=0x000000000000fff0"), "{text}");
        assert!(text.contains("reset state, not the fault's: on AMD (SVM)"), "{text}");
        assert!(!text.contains("code at RIP") && !text.contains("RIP not named") && r.symbol.is_none(), "{text}");
        assert!(text.ends_with("  | last words"), "{text}");
        assert_eq!(r.summary(), "RIP=0xfff0; the vCPU's reset state");
        let mut protected = reset;
        protected.paging.cr0 = 0x11;
        assert!(!protected.is_reset_state());
    }

    #[test]
    fn the_linear_rip_adds_the_cs_base_outside_long_mode() {
        let mut c = CpuState {
            rip: 0xfff0,
            cs: CodeSegment { base: 0xffff_0000, ..CodeSegment::default() },
            ..CpuState::default()
        };
        assert_eq!(c.linear_rip(), 0xffff_fff0);
        c.cs.l = true;
        c.rip = 0xffff_ffff_8100_0000;
        assert_eq!(c.linear_rip(), 0xffff_ffff_8100_0000);
    }
}

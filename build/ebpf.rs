//! The relay's kernel fast path (`src/relay/kernel/fastpath.bpf.c`): compiled with clang's BPF
//! target when it is available, then read here (ELF sections, symbols, relocations) into
//! `OUT_DIR/mpx_ebpf.rs`: the instructions, the map definitions and where each map's descriptor
//! goes. The module then loads it with nothing more than the `bpf(2)` system call. Sets
//! `cfg(mpx_ebpf)`; without clang (or with `MPX_EBPF=0`) the module builds without the fast
//! path and says so when asked to use it.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "src/relay/kernel/fastpath.bpf.c";
/// The program's section (`SEC("tc")`) and the maps' section.
const PROG_SECTION: &str = "tc";
const MAPS_SECTION: &str = "maps";
/// `struct mpx_map_def`: five `__u32`.
const MAP_DEF_SIZE: usize = 20;
const R_BPF_64_64: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const STT_OBJECT: u8 = 1;
const BPF_LD_IMM64: u8 = 0x18;

pub fn main() {
    println!("cargo::rustc-check-cfg=cfg(mpx_ebpf)");
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=build/ebpf.rs");
    println!("cargo:rerun-if-env-changed=MPX_EBPF");
    println!("cargo:rerun-if-env-changed=CLANG");
    if env::var("MPX_EBPF").is_ok_and(|v| v == "0") {
        println!("cargo:warning=MPX_EBPF=0: building without the kernel fast path");
        return;
    }
    if env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() != Ok("little")
        || env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
    {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("fastpath.bpf.o");
    match compile(&object).and_then(|()| describe(&object)) {
        Ok(rust) => {
            std::fs::write(out.join("mpx_ebpf.rs"), rust)
                .unwrap_or_else(|e| panic!("cannot write mpx_ebpf.rs: {e}"));
            println!("cargo:rustc-cfg=mpx_ebpf");
        }
        Err(e) => println!(
            "cargo:warning=building without the kernel fast path (relay_kernel): {e} \
             (scripts/deps.sh installs clang and the kernel headers)"
        ),
    }
}

fn compile(object: &Path) -> Result<(), String> {
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // linux/*.h include <asm/types.h>, which lives under the multiarch directory
    let multiarch = Command::new(&clang)
        .arg("-print-multiarch")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "x86_64-linux-gnu".into());
    let out = Command::new(&clang)
        .args(["-O2", "-target", "bpfel", "-Wall", "-Werror", "-nostdinc"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-I/usr/include", "-c", SOURCE, "-o"])
        .arg(object)
        .output()
        .map_err(|e| format!("cannot run {clang}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{clang} -target bpfel failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

struct Section {
    name: String,
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    info: usize,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("ELF truncated at {at}"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("ELF truncated at {at}"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    let lo = u64::from(u32_at(b, at)?);
    let hi = u64::from(u32_at(b, at + 4)?);
    Ok(lo | hi << 32)
}

fn cstr(b: &[u8], at: usize) -> String {
    let tail = b.get(at..).unwrap_or_default();
    let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[..end]).into_owned()
}

fn sections(elf: &[u8]) -> Result<Vec<Section>, String> {
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not a little-endian ELF64 object".into());
    }
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = usize::from(u16_at(elf, 0x3a)?);
    let shnum = usize::from(u16_at(elf, 0x3c)?);
    let shstrndx = usize::from(u16_at(elf, 0x3e)?);
    let mut raw = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        raw.push((
            u32_at(elf, h)? as usize,
            Section {
                name: String::new(),
                kind: u32_at(elf, h + 4)?,
                offset: u64_at(elf, h + 24)? as usize,
                size: u64_at(elf, h + 32)? as usize,
                link: u32_at(elf, h + 40)? as usize,
                info: u32_at(elf, h + 44)? as usize,
            },
        ));
    }
    let strtab = raw
        .get(shstrndx)
        .map(|(_, s)| s.offset)
        .ok_or("no section name table")?;
    Ok(raw
        .into_iter()
        .map(|(name, mut s)| {
            s.name = cstr(elf, strtab + name);
            s
        })
        .collect())
}

fn bytes<'a>(elf: &'a [u8], s: &Section) -> Result<&'a [u8], String> {
    elf.get(s.offset..s.offset + s.size)
        .ok_or_else(|| format!("section {} out of the file", s.name))
}

/// The Rust description of the compiled object.
fn describe(object: &Path) -> Result<String, String> {
    let elf = std::fs::read(object).map_err(|e| format!("cannot read {object:?}: {e}"))?;
    let secs = sections(&elf)?;
    let index_of = |name: &str| {
        secs.iter()
            .position(|s| s.name == name)
            .ok_or_else(|| format!("no section {name:?} in the object"))
    };
    let prog = index_of(PROG_SECTION)?;
    let maps = index_of(MAPS_SECTION)?;
    let code = bytes(&elf, &secs[prog])?;
    if code.len() % 8 != 0 || code.is_empty() {
        return Err("the program section is not whole instructions".into());
    }
    let symtab = secs
        .iter()
        .find(|s| s.kind == SHT_SYMTAB)
        .ok_or("no symbol table")?;
    let syms = bytes(&elf, symtab)?;
    let symstr = secs.get(symtab.link).ok_or("no symbol names")?.offset;

    // the maps: every symbol in the maps section, in the order of their definitions
    let defs = bytes(&elf, &secs[maps])?;
    let mut map_names = vec![String::new(); defs.len() / MAP_DEF_SIZE];
    for sym in syms.chunks_exact(24) {
        let is_object = sym.get(4).is_some_and(|info| info & 0xf == STT_OBJECT);
        if is_object && usize::from(u16_at(sym, 6)?) == maps {
            let slot = u64_at(sym, 8)? as usize / MAP_DEF_SIZE;
            let name = cstr(&elf, symstr + u32_at(sym, 0)? as usize);
            let entry = map_names
                .get_mut(slot)
                .ok_or_else(|| format!("map {name} outside the maps section"))?;
            *entry = name;
        }
    }

    let mut rust =
        String::from("// Generated by build/ebpf.rs from src/relay/kernel/fastpath.bpf.c.\n");
    rust.push_str("pub const MAPS: &[MapDef] = &[\n");
    for (i, name) in map_names.iter().enumerate() {
        let d = &defs[i * MAP_DEF_SIZE..];
        writeln!(
            rust,
            "    MapDef {{ name: {name:?}, kind: {}, key_size: {}, value_size: {}, max_entries: {}, flags: {} }},",
            u32_at(d, 0)?,
            u32_at(d, 4)?,
            u32_at(d, 8)?,
            u32_at(d, 12)?,
            u32_at(d, 16)?
        )
        .expect("write to a String");
    }
    rust.push_str("];\n");

    // relocations of the program: only map references (ld_imm64 of a map symbol)
    rust.push_str("pub const MAP_RELOCATIONS: &[(usize, usize)] = &[\n");
    for rel in secs.iter().filter(|s| s.kind == SHT_REL && s.info == prog) {
        for r in bytes(&elf, rel)?.chunks_exact(16) {
            let offset = u64_at(r, 0)? as usize;
            let info = u64_at(r, 8)?;
            let (sym, kind) = ((info >> 32) as usize, info as u32);
            let s = syms
                .get(sym * 24..sym * 24 + 24)
                .ok_or("relocation to a missing symbol")?;
            let name = cstr(&elf, symstr + u32_at(s, 0)? as usize);
            if kind != R_BPF_64_64 || usize::from(u16_at(s, 6)?) != maps {
                return Err(format!(
                    "relocation of type {kind} against {name}: only map references are supported \
                     (every function must be inlined, no global data)"
                ));
            }
            if offset % 8 != 0 || code.get(offset) != Some(&BPF_LD_IMM64) {
                return Err(format!("relocation against {name} not on a 64-bit load"));
            }
            let slot = u64_at(s, 8)? as usize / MAP_DEF_SIZE;
            writeln!(rust, "    ({}, {slot}),", offset / 8).expect("write to a String");
        }
    }
    rust.push_str("];\n");

    let license = cstr(bytes(&elf, &secs[index_of("license")?])?, 0);
    writeln!(
        rust,
        "pub const LICENSE: &str = {:?};",
        format!("{license}\0")
    )
    .expect("write to a String");
    rust.push_str("pub const INSNS: &[[u8; 8]] = &[\n");
    for insn in code.chunks_exact(8) {
        writeln!(rust, "    {insn:?},").expect("write to a String");
    }
    rust.push_str("];\n");
    Ok(rust)
}

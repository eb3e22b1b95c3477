//! `reel test --freeze-time`: the app runs under libfaketime and, before each
//! case is sent, its clock is set to the time that case was recorded, so an app
//! that writes "now" into its answers replays exactly.
//!
//! libfaketime is preloaded into the app (`LD_PRELOAD`) with
//! `FAKETIME_TIMESTAMP_FILE` naming a file reel owns and `FAKETIME_NO_CACHE=1`,
//! so the library reads that file again on every clock call. The file holds an
//! offset from the real clock in seconds with microseconds (`-86400.123456`).
//! Before each case reel writes `recorded_at - now` there (by rename, so the app
//! never reads half a file): at the moment the request goes out the app's clock
//! reads the recorded time, and it runs on from there. An offset is used rather
//! than a `@YYYY-MM-DD hh:mm:ss` start because libfaketime counts a start time
//! from when the process started and reads it in the local zone; an offset
//! depends on neither, and keeps the recorded microseconds. The monotonic clock
//! is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`): timers and timeouts in the
//! app keep working.
//!
//! With the monotonic clock left alone, libfaketime 0.9.10 (Debian 12's)
//! still rewrites `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ..)`
//! deadlines as if they were faked wall-clock times, into a negative time:
//! the call fails with EINVAL. Python 3.11+ sleeps exactly that way, so
//! `time.sleep` raised and gunicorn's master died at start. Faking the
//! monotonic clock instead is no way out: libfaketime then reads it as wall
//! time, and every futex wait with a monotonic deadline that it does not
//! intercept (Python's `Lock.acquire(timeout=)`, `Event.wait`) sleeps for
//! decades. So reel preloads, ahead of libfaketime, a shared object of its
//! own ([`sleep_shim`], written beside the clock file) whose one symbol,
//! `clock_nanosleep`, goes straight to the kernel. That is right for every
//! clock libfaketime leaves alone; a sleep until an absolute wall-clock time
//! (`CLOCK_REALTIME` with `TIMER_ABSTIME`, rare in servers) then waits for
//! that real time, not the faked one.
//!
//! libfaketime cannot reach a statically linked program (there is no dynamic
//! loader to preload it). That is checked before the app starts, from the ELF
//! program headers of the command's executable (no `PT_INTERP`, no loader), and
//! again once it listens: the process that owns the listening socket must have
//! libfaketime in its memory map, which also catches a wrapper that clears
//! `LD_PRELOAD` or a static binary started by a script.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::errors::ReplayError;

/// Where Debian and a local build put the library; the MT build is preferred
/// because servers call the clock from many threads.
const LIBRARY_DIRS: &[&str] = &["/usr/lib", "/usr/local/lib", "/lib", "/usr/lib64"];
const LIBRARY_NAMES: &[&str] = &["libfaketimeMT.so.1", "libfaketime.so.1"];

/// Variables of the caller's environment that would override or narrow what
/// reel sets (`FAKETIME` wins over the timestamp file).
pub const UNSET: &[&str] = &[
    "FAKETIME",
    "FAKETIME_FMT",
    "FAKETIME_ONLY_CMDS",
    "FAKETIME_SKIP_CMDS",
    "FAKETIME_SHARED",
    "FAKETIME_CACHE_DURATION",
];

/// The libfaketime shared object: `REEL_LIBFAKETIME` if set, else the first
/// found in the usual places.
pub fn library() -> Result<PathBuf, ReplayError> {
    if let Some(p) = std::env::var_os("REEL_LIBFAKETIME") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ReplayError::NoFaketime {
                looked: format!("REEL_LIBFAKETIME={}", p.display()),
            })
        };
    }
    let mut dirs = Vec::new();
    for base in LIBRARY_DIRS {
        dirs.push(Path::new(base).join("faketime"));
        // Multiarch folders such as /usr/lib/x86_64-linux-gnu.
        if let Ok(entries) = std::fs::read_dir(base) {
            let mut subs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path().join("faketime")))
                .filter(|p| p.is_dir())
                .collect();
            subs.sort();
            dirs.extend(subs);
        }
    }
    for name in LIBRARY_NAMES {
        if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    Err(ReplayError::NoFaketime {
        looked: format!("{}/[*/]faketime/", LIBRARY_DIRS.join(", ")),
    })
}

/// The app's clock: a timestamp file libfaketime reads on every clock call.
pub struct Clock {
    lib: PathBuf,
    file: PathBuf,
    /// [`sleep_shim`] written out, on the architectures it is built for.
    shim: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Clock {
    /// A clock reading `at` from now on.
    pub fn new(lib: PathBuf, at: DateTime<Utc>) -> Result<Self, ReplayError> {
        let dir = tempfile::Builder::new()
            .prefix("reel-faketime-")
            .tempdir()
            .map_err(|e| ReplayError::FreezeTime(format!("creating the clock file: {e}")))?;
        let shim = match sleep_shim() {
            Some(bytes) => {
                let path = dir.path().join("reel-sleep.so");
                std::fs::write(&path, bytes).map_err(|source| ReplayError::Write {
                    path: path.clone(),
                    source,
                })?;
                Some(path)
            }
            None => None,
        };
        let clock = Clock {
            lib,
            file: dir.path().join("faketime.rc"),
            shim,
            _dir: dir,
        };
        clock.set(at)?;
        Ok(clock)
    }

    /// The variables that put the app under this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        // The shim first: the first object that defines a symbol gets the calls.
        let mut preload: Vec<String> = self
            .shim
            .iter()
            .chain([&self.lib])
            .map(|p| p.display().to_string())
            .collect();
        if let Ok(other) = std::env::var("LD_PRELOAD") {
            if !other.trim().is_empty() {
                preload.push(other);
            }
        }
        let preload = preload.join(":");
        vec![
            ("LD_PRELOAD".into(), preload),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file.display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// From now on the app's clock reads `at` and runs on from there.
    pub fn set(&self, at: DateTime<Utc>) -> Result<(), ReplayError> {
        let text = offset_text((at - Utc::now()).num_microseconds().unwrap_or(0));
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{text}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.file))
            .map_err(|source| ReplayError::Write {
                path: self.file.clone(),
                source,
            })
    }
}

/// The machine code of the shim's `clock_nanosleep(clock, flags, req, rem)`:
/// the system call with the caller's arguments, its `-errno` turned into the
/// positive error number that glibc's function returns.
#[cfg(target_arch = "x86_64")]
const SHIM_MACHINE: Option<(u16, &[u8])> = Some((
    62, // EM_X86_64
    &[
        0x49, 0x89, 0xca, // mov r10, rcx (the kernel takes the 4th argument in r10)
        0xb8, 0xe6, 0x00, 0x00, 0x00, // mov eax, 230 (SYS_clock_nanosleep)
        0x0f, 0x05, // syscall
        0xf7, 0xd8, // neg eax
        0xc3, // ret
    ],
));
#[cfg(target_arch = "aarch64")]
const SHIM_MACHINE: Option<(u16, &[u8])> = Some((
    183, // EM_AARCH64
    &[
        0x68, 0x0e, 0x80, 0xd2, // mov x8, #115 (SYS_clock_nanosleep)
        0x01, 0x00, 0x00, 0xd4, // svc #0
        0xe0, 0x03, 0x00, 0x4b, // neg w0, w0
        0xc0, 0x03, 0x5f, 0xd6, // ret
    ],
));
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SHIM_MACHINE: Option<(u16, &[u8])> = None;

/// A complete ELF shared object, built here rather than shipped or compiled,
/// that defines one symbol, `clock_nanosleep`, calling the kernel directly
/// (see the module doc for why). It imports nothing and needs no
/// relocation: headers, a SysV hash table, the symbol and its name and the
/// code on a read-only executable page; the dynamic section on a writable
/// page of its own (older loaders write to it); a non-executable stack.
/// None on architectures without [`SHIM_MACHINE`] code.
pub fn sleep_shim() -> Option<Vec<u8>> {
    let (machine, code) = SHIM_MACHINE?;
    const PAGE: u64 = 0x1000;
    const PHNUM: u64 = 4;
    let hash_at = 64 + 56 * PHNUM;
    let hash: [u32; 5] = [1, 2, 1, 0, 0]; // nbucket, nchain, bucket[0], chain[0..2]
    let sym_at = hash_at + 24; // 20 bytes of hash, aligned to 8
    let str_at = sym_at + 2 * 24;
    let names = b"\0clock_nanosleep\0";
    let code_at = (str_at + names.len() as u64).next_multiple_of(16);
    let text_end = code_at + code.len() as u64;
    let dynamic: [(u64, u64); 6] = [
        (4, hash_at),             // DT_HASH
        (5, str_at),              // DT_STRTAB
        (6, sym_at),              // DT_SYMTAB
        (10, names.len() as u64), // DT_STRSZ
        (11, 24),                 // DT_SYMENT
        (0, 0),                   // DT_NULL
    ];
    let dyn_size = 16 * dynamic.len() as u64;

    let mut f = Vec::new();
    let u16le = |f: &mut Vec<u8>, v: u16| f.extend_from_slice(&v.to_le_bytes());
    let u32le = |f: &mut Vec<u8>, v: u32| f.extend_from_slice(&v.to_le_bytes());
    let u64le = |f: &mut Vec<u8>, v: u64| f.extend_from_slice(&v.to_le_bytes());
    // ELF header: 64-bit, little-endian, version 1, System V ABI.
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    u16le(&mut f, 3); // ET_DYN
    u16le(&mut f, machine);
    u32le(&mut f, 1);
    u64le(&mut f, 0); // no entry point
    u64le(&mut f, 64); // program headers right after this header
    u64le(&mut f, 0); // no section headers
    u32le(&mut f, 0);
    for v in [64u16, 56, PHNUM as u16, 64, 0, 0] {
        u16le(&mut f, v);
    }
    // Program headers: type, flags, offset, vaddr, paddr, filesz, memsz, align.
    let phdr = |f: &mut Vec<u8>, kind: u32, flags: u32, at: u64, size: u64, align: u64| {
        u32le(f, kind);
        u32le(f, flags);
        for v in [at, at, at, size, size, align] {
            u64le(f, v);
        }
    };
    phdr(&mut f, 1, 5, 0, text_end, PAGE); // PT_LOAD, R+X
    phdr(&mut f, 1, 6, PAGE, dyn_size, PAGE); // PT_LOAD, R+W
    phdr(&mut f, 2, 6, PAGE, dyn_size, 8); // PT_DYNAMIC
    phdr(&mut f, 0x6474_e551, 6, 0, 0, 16); // PT_GNU_STACK, not executable
    for v in hash {
        u32le(&mut f, v);
    }
    f.resize(sym_at as usize, 0);
    f.extend_from_slice(&[0; 24]); // symbol 0 is the undefined one
    u32le(&mut f, 1); // st_name: "clock_nanosleep"
    f.push(0x12); // STB_GLOBAL, STT_FUNC
    f.push(0); // STV_DEFAULT
               // Any defined section index will do: the loader reads none of them, and
               // SHN_ABS would make the address absolute instead of load-relative.
    u16le(&mut f, 1);
    u64le(&mut f, code_at);
    u64le(&mut f, code.len() as u64);
    f.extend_from_slice(names);
    f.resize(code_at as usize, 0);
    f.extend_from_slice(code);
    f.resize(PAGE as usize, 0);
    for (tag, value) in dynamic {
        u64le(&mut f, tag);
        u64le(&mut f, value);
    }
    Some(f)
}

/// An app that exited, or never answered, while starting under libfaketime
/// is said to have done so there (its last output stays in the cause): the
/// preload is the first suspect, and without saying so the user sees only
/// an app that "exited before it was ready".
pub fn under_faketime(e: ReplayError, lib: &Path) -> ReplayError {
    match e {
        ReplayError::AppExited { .. } | ReplayError::AppNotReady { .. } => {
            ReplayError::FrozenAppFailed {
                lib: lib.display().to_string(),
                source: Box::new(e),
            }
        }
        e => e,
    }
}

/// `+12.000345` / `-86400.123456`: libfaketime's relative offset in seconds.
fn offset_text(micros: i64) -> String {
    let sign = if micros < 0 { '-' } else { '+' };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// Refuses a command whose program libfaketime cannot reach: a statically
/// linked ELF file, directly or as a script's interpreter. A program that
/// cannot be found here (a shell builtin, a compound command) passes; the
/// check after start decides then.
pub fn check_command(command: &str) -> Result<(), ReplayError> {
    let words = split_words(command);
    let mut rest = words.iter().map(String::as_str).peekable();
    // `FOO=1 exec env -i BAR=2 ./app`: skip to the program.
    while let Some(w) = rest.peek() {
        let assignment = w
            .split_once('=')
            .is_some_and(|(k, _)| is_name(k) && !k.is_empty());
        if assignment || *w == "exec" || *w == "env" || (w.starts_with('-') && *w != "-") {
            rest.next();
        } else {
            break;
        }
    }
    match rest.next().and_then(resolve) {
        Some(path) => check_executable(&path, 0),
        None => Ok(()),
    }
}

fn is_name(s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
}

/// A program as the shell would find it: a path, or a name on `PATH`.
fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn check_executable(path: &Path, depth: u32) -> Result<(), ReplayError> {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut head));
    if read.is_err() {
        // Not readable here: the check after start decides.
        return Ok(());
    }
    if let Some(line) = head.strip_prefix(b"#!") {
        if depth >= 3 {
            return Ok(());
        }
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        let interpreter = match words.next() {
            Some(i) if i.ends_with("/env") => words.find(|w| !w.starts_with('-')),
            other => other,
        };
        return match interpreter.and_then(resolve) {
            Some(i) => check_executable(&i, depth + 1),
            None => Ok(()),
        };
    }
    match elf_has_interpreter(&head) {
        Some(false) => Err(ReplayError::StaticApp {
            path: path.to_owned(),
        }),
        // Dynamically linked, or not ELF (the kernel decides what runs it).
        _ => Ok(()),
    }
}

/// Whether an ELF file names a dynamic loader (a `PT_INTERP` program header);
/// None when `head` is not an ELF file or its headers lie beyond `head`.
pub fn elf_has_interpreter(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if head.len() < 52 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let uint = |at: usize, len: usize| -> Option<u64> {
        let b = head.get(at..at + len)?;
        let mut v: u64 = 0;
        for i in 0..len {
            let byte = if little { b[len - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if wide {
        (uint(0x20, 8)?, uint(0x36, 2)?, uint(0x38, 2)?)
    } else {
        (uint(0x1c, 4)?, uint(0x2a, 2)?, uint(0x2c, 2)?)
    };
    let mut found = false;
    for i in 0..phnum {
        let at = usize::try_from(phoff + i * phentsize).ok()?;
        if uint(at, 4)? == u64::from(PT_INTERP) {
            found = true;
        }
    }
    Some(found)
}

/// Splits a command line into words as `sh` would for a simple command:
/// quotes and backslashes, no expansions.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        q => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            // The first simple command ends here.
            ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Checks that the process listening on `port` loaded `lib`: the proof that
/// the preload reached the real app and not only the shell around it.
pub fn check_loaded(port: u16, lib: &Path) -> Result<(), ReplayError> {
    let inodes = listening_inodes(port);
    let owners = socket_owners(&inodes);
    if owners.is_empty() {
        return Err(ReplayError::FreezeTime(format!(
            "cannot find the process listening on port {port} in /proc, so cannot check that libfaketime reached the app"
        )));
    }
    let name = lib
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for pid in owners {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        if !maps.contains("libfaketime") {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(ReplayError::FaketimeNotLoaded {
                pid,
                exe,
                port,
                lib: name,
            });
        }
    }
    Ok(())
}

/// Inodes of sockets listening on `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some(local) = f.get(1) else { continue };
            let listening = f.get(3) == Some(&"0A");
            let p = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if listening && p == Some(port) {
                if let Some(inode) = f.get(9) {
                    out.push((*inode).to_owned());
                }
            }
        }
    }
    out
}

/// Processes holding any of the socket `inodes` open.
fn socket_owners(inodes: &[String]) -> Vec<u32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.filter_map(Result::ok) {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.filter_map(Result::ok).any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
        });
        if holds {
            out.push(pid);
        }
    }
    out
}

/// libfaketime shares its state between the app's processes through POSIX
/// shared memory named after the first process that loaded it: the `sh` reel
/// starts, `pid`. Killed rather than exited when the app stops, it never
/// removes them, and a later process given the same pid would fail to start
/// under libfaketime; so reel removes them.
pub fn shared_memory_of(pid: u32) -> Vec<PathBuf> {
    vec![
        PathBuf::from(format!("/dev/shm/faketime_shm_{pid}")),
        PathBuf::from(format!("/dev/shm/sem.faketime_sem_{pid}")),
    ]
}

/// A case's `recorded_at` as a time.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python 3.11+ sleeps with `clock_nanosleep(CLOCK_MONOTONIC,
    /// TIMER_ABSTIME)`, which libfaketime 0.9.10 mangles when the monotonic
    /// clock is not faked: `time.sleep` raised EINVAL and gunicorn died.
    /// Under reel's clock Python sleeps, and reads the time it was given.
    #[test]
    fn python_sleeps_and_reads_the_set_time_under_the_clock() {
        let lib = library().expect("libfaketime (scripts/deps.sh installs faketime)");
        let python = resolve("python3").expect("python3 on PATH");
        let at = DateTime::parse_from_rfc3339("2001-02-03T04:05:06Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::new(lib, at).unwrap();
        let script = "import threading, time\n\
                      t = time.monotonic()\n\
                      time.sleep(0.05)\n\
                      threading.Event().wait(0.05)\n\
                      print(round(time.monotonic() - t, 1), int(time.time()))";
        let out = std::process::Command::new(python)
            .args(["-c", script])
            .envs(clock.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python under the clock: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let (slept, now) = printed.trim().split_once(' ').unwrap();
        assert_eq!(slept, "0.1", "both waits took their time: {printed}");
        let now: i64 = now.parse().unwrap();
        assert!((now - at.timestamp()).abs() < 5, "{printed}");
    }

    #[test]
    fn offsets_keep_microseconds_and_sign() {
        assert_eq!(offset_text(-86_400_123_456), "-86400.123456");
        assert_eq!(offset_text(12_000_345), "+12.000345");
        assert_eq!(offset_text(-5), "-0.000005");
        assert_eq!(offset_text(0), "+0.000000");
    }

    #[test]
    fn the_program_of_a_command_is_found_past_assignments_and_quotes() {
        assert_eq!(
            split_words(r#"FOO=1 exec './my app' --x "a b" c\ d; echo done"#),
            ["FOO=1", "exec", "./my app", "--x", "a b", "c d"]
        );
        assert_eq!(split_words("a|b"), ["a"]);
        assert_eq!(split_words("a > log"), ["a"]);
    }

    #[test]
    fn elf_headers_tell_static_from_dynamic() {
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(elf_has_interpreter(&sh), Some(true));
        assert_eq!(elf_has_interpreter(&static_elf()), Some(false));
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\necho hi\n"), None);
    }

    /// A complete static x86-64 executable that exits 0: one PT_LOAD, no loader.
    pub(crate) fn static_elf() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&0x400078u64.to_le_bytes()); // entry
        f.extend_from_slice(&64u64.to_le_bytes()); // phoff
        f.extend_from_slice(&0u64.to_le_bytes()); // shoff
        f.extend_from_slice(&0u32.to_le_bytes());
        for v in [64u16, 56, 1, 0, 0, 0] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        f.extend_from_slice(&5u32.to_le_bytes()); // R+X
        f.extend_from_slice(&0u64.to_le_bytes());
        f.extend_from_slice(&0x400000u64.to_le_bytes());
        f.extend_from_slice(&0x400000u64.to_le_bytes());
        f.extend_from_slice(&0x81u64.to_le_bytes());
        f.extend_from_slice(&0x81u64.to_le_bytes());
        f.extend_from_slice(&0x1000u64.to_le_bytes());
        // mov eax, 60; xor edi, edi; syscall
        f.extend_from_slice(b"\xb8\x3c\0\0\0\x31\xff\x0f\x05");
        f
    }
}

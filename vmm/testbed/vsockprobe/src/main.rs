//! Guest side of the vsock checks in `../scenarios.sh`: `sink PORT N` accepts
//! N connections and answers each with "<bytes> <sha256>"; `source PORT BYTES
//! N` opens N connections to the host and checks the host's answer.
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;

fn hex(d: &[u8]) -> String { d.iter().map(|b| format!("{b:02x}")).collect() }

fn vsock_socket() -> i32 {
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    fd
}

fn addr(cid: u32, port: u32) -> libc::sockaddr_vm {
    let mut a: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    a.svm_family = libc::AF_VSOCK as u16;
    a.svm_cid = cid;
    a.svm_port = port;
    a
}

fn listen(port: u32) -> i32 {
    let fd = vsock_socket();
    let a = addr(libc::VMADDR_CID_ANY, port);
    let rc = unsafe { libc::bind(fd, &a as *const _ as *const libc::sockaddr, std::mem::size_of_val(&a) as u32) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    assert_eq!(unsafe { libc::listen(fd, 64) }, 0);
    fd
}

fn connect(port: u32) -> std::fs::File {
    let fd = vsock_socket();
    let a = addr(2, port);
    let rc = unsafe { libc::connect(fd, &a as *const _ as *const libc::sockaddr, std::mem::size_of_val(&a) as u32) };
    assert_eq!(rc, 0, "connect to host port {port}: {}", std::io::Error::last_os_error());
    unsafe { std::fs::File::from_raw_fd(fd) }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        // sink PORT N: accept N connections; for each, read to EOF, reply "<bytes> <sha256>\n".
        "sink" => {
            let port: u32 = args[2].parse().unwrap();
            let n: usize = args[3].parse().unwrap();
            let l = listen(port);
            println!("probe: listening on vsock port {port}");
            let mut threads = Vec::new();
            for _ in 0..n {
                let c = unsafe { libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut()) };
                assert!(c >= 0);
                threads.push(std::thread::spawn(move || {
                    let mut f = unsafe { std::fs::File::from_raw_fd(c) };
                    let mut h = Sha256::new();
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut total = 0u64;
                    loop {
                        let k = f.read(&mut buf).unwrap();
                        if k == 0 { break; }
                        total += k as u64;
                        h.update(&buf[..k]);
                    }
                    writeln!(f, "{total} {}", hex(&h.finalize())).unwrap();
                }));
            }
            for t in threads { t.join().unwrap(); }
            println!("probe: sink done");
        }
        // source PORT BYTES N: N concurrent connections to the host, each sends BYTES
        // of a pattern, half-closes, and checks the host's "<bytes> <sha256>" reply.
        "source" => {
            let port: u32 = args[2].parse().unwrap();
            let bytes: u64 = args[3].parse().unwrap();
            let n: u64 = args[4].parse().unwrap();
            let ts: Vec<_> = (0..n).map(|i| std::thread::spawn(move || {
                let mut f = connect(port);
                let mut h = Sha256::new();
                let mut s: u64 = 0x9e3779b97f4a7c15 ^ (i + 1);
                let mut buf = vec![0u8; 64 * 1024];
                let mut left = bytes;
                while left > 0 {
                    for c in buf.chunks_mut(8) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; c.copy_from_slice(&s.to_le_bytes()); }
                    let k = left.min(buf.len() as u64) as usize;
                    f.write_all(&buf[..k]).unwrap();
                    h.update(&buf[..k]);
                    left -= k as u64;
                }
                unsafe { libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(&f), libc::SHUT_WR) };
                let mut reply = String::new();
                f.read_to_string(&mut reply).unwrap();
                let want = format!("{bytes} {}", hex(&h.finalize()));
                assert_eq!(reply.trim(), want, "connection {i}");
            })).collect();
            for t in ts { t.join().unwrap(); }
            println!("probe: source OK: {n} x {bytes} bytes verified by the host");
        }
        other => panic!("unknown mode {other}"),
    }
}

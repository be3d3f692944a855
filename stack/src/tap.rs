//! A TAP device: the host's Ethernet frames go to the Linux kernel, and the kernel's
//! come back, so the lab's stack talks to real peers (curl, python3 -m http.server,
//! the kernel's own TCP).
//!
//! The device must exist already (`sudo scripts/tap-up.sh` creates one, owned by the
//! invoking user, inside a network namespace): [`TapDevice::open`] never creates one.
//! Opened in TAP mode without packet information (`IFF_NO_PI`): every read returns one
//! whole Ethernet frame and every write sends one. The descriptor is non-blocking, so
//! the real-time runner ([`crate::realtime`]) can wait on it with poll(2) together with
//! its timers.
//!
//! Linux only. Every failure is a [`TapError`] whose message is one sentence that says
//! what to do; nothing here panics.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};

use thiserror::Error;
use tun_tap::{Iface, Mode};

/// Longest interface name Linux accepts (`IFNAMSIZ` - 1 for the terminating NUL).
const MAX_NAME_LEN: usize = 15;
/// The TUN/TAP clone device.
const TUN_CLONE_DEVICE: &str = "/dev/net/tun";
/// `IFF_UP` in the interface flags (netdevice(7)).
const IFF_UP: libc::c_short = 0x1;
/// `IFF_RUNNING` in the interface flags: the kernel has seen the carrier come up.
const IFF_RUNNING: libc::c_short = 0x40;
/// How long [`TapDevice::open`] waits for the kernel to finish bringing the link up
/// (measured: 0.2-0.4 ms); past it the device is used anyway.
const RUNNING_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// Between two looks at the flags while waiting.
const RUNNING_POLL: std::time::Duration = std::time::Duration::from_micros(50);

/// Why a TAP device could not be opened or used.
#[derive(Debug, Error)]
pub enum TapError {
    /// The name cannot be an interface name.
    #[error("'{name}' is not a valid interface name: use 1-15 letters, digits, '-', '_' or '.'")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// No interface of that name in this network namespace.
    #[error(
        "no TAP device '{name}': create it with sudo scripts/tap-up.sh, and run tcpknobs \
         inside its namespace (sudo ip netns exec tcpknobs sudo -u $USER tcpknobs ...)"
    )]
    Missing {
        /// The name given.
        name: String,
    },
    /// The kernel has no TUN/TAP support here.
    #[error(
        "/dev/net/tun is missing: load the tun module (sudo modprobe tun), or run where \
         TUN/TAP devices are available"
    )]
    NoTunDevice,
    /// /dev/net/tun could not be opened for reading and writing.
    #[error(
        "no permission to open /dev/net/tun: run scripts/tap-up.sh, which gives the TAP \
         to your user, or use sudo (only sudo helps where /dev/net/tun is not mode 0666)"
    )]
    NoPermission,
    /// The device exists but belongs to another user.
    #[error(
        "no permission to attach to TAP '{name}' (it belongs to another user): run sudo \
         scripts/tap-up.sh, which gives the TAP to your user, or use sudo"
    )]
    NotOwner {
        /// The name given.
        name: String,
    },
    /// The interface exists but is not a TAP (a TUN, a veth, lo, ...).
    #[error(
        "'{name}' is not a TAP device: pass the TAP that scripts/tap-up.sh created \
         (--tap tk0)"
    )]
    NotTap {
        /// The name given.
        name: String,
    },
    /// Another process has the (single-queue) device open.
    #[error("TAP '{name}' is already in use by another process: stop that one first")]
    Busy {
        /// The name given.
        name: String,
    },
    /// The interface is administratively down: the kernel would drop every frame.
    #[error("TAP '{name}' is down: bring it up with sudo ip link set {name} up")]
    Down {
        /// The name given.
        name: String,
    },
    /// Anything else the system reported.
    #[error("TAP '{name}': {source}")]
    Io {
        /// The name given.
        name: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// An open TAP device. See the module docs.
#[derive(Debug)]
pub struct TapDevice {
    iface: Iface,
    name: String,
    mtu: usize,
}

impl TapDevice {
    /// Attach to the existing TAP interface `name`: no packet information,
    /// non-blocking. Never creates an interface (as root, the kernel would happily make
    /// a fresh one that nothing is configured on).
    pub fn open(name: &str) -> Result<TapDevice, TapError> {
        let owned = || name.to_string();
        if !valid_name(name) {
            return Err(TapError::InvalidName { name: owned() });
        }
        let info = InterfaceInfo::query(name).map_err(|source| TapError::Io {
            name: owned(),
            source,
        })?;
        let Some(info) = info else {
            return Err(TapError::Missing { name: owned() });
        };
        // tun-tap reports open(2) and TUNSETIFF failures alike; opening the clone device
        // first tells them apart (EPERM means a device cgroup there, an owner below).
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(TUN_CLONE_DEVICE)
        {
            return Err(match (e.kind(), e.raw_os_error()) {
                (io::ErrorKind::NotFound, _) | (_, Some(libc::ENODEV | libc::ENXIO)) => {
                    TapError::NoTunDevice
                }
                (_, Some(libc::EACCES | libc::EPERM)) => TapError::NoPermission,
                _ => TapError::Io {
                    name: owned(),
                    source: e,
                },
            });
        }
        let iface =
            Iface::without_packet_info(name, Mode::Tap).map_err(|e| match e.raw_os_error() {
                // TUNSETIFF: the device's owner/group is not us and we lack CAP_NET_ADMIN.
                Some(libc::EPERM | libc::EACCES) => TapError::NotOwner { name: owned() },
                // TUNSETIFF on an interface that is not a TAP.
                Some(libc::EINVAL) => TapError::NotTap { name: owned() },
                Some(libc::EBUSY) => TapError::Busy { name: owned() },
                _ => TapError::Io {
                    name: owned(),
                    source: e,
                },
            })?;
        set_non_blocking(iface.as_raw_fd()).map_err(|source| TapError::Io {
            name: owned(),
            source,
        })?;
        if info.flags & IFF_UP == 0 {
            return Err(TapError::Down { name: owned() });
        }
        wait_until_running(name);
        Ok(TapDevice {
            iface,
            name: owned(),
            mtu: info.mtu,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's IP MTU (the largest frame is 14 bytes longer), as the kernel
    /// reported it when the device was opened.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The kernel's own IPv4 addresses on this interface, with their prefix lengths:
    /// the peer side of the TAP. A host must not claim one of them.
    pub fn kernel_addrs(&self) -> io::Result<Vec<(Ipv4Addr, u8)>> {
        interface_ipv4_addrs(&self.name)
    }

    /// What the kernel counts on this interface (see [`KernelCounters::read`]).
    pub fn kernel_counters(&self) -> io::Result<KernelCounters> {
        KernelCounters::read(&self.name)
    }

    /// Read one frame into `buf`; `Ok(None)` when none is waiting. A frame longer than
    /// `buf` is truncated by the kernel, so give at least MTU + 14 bytes.
    pub fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.iface.recv(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Write one whole frame. `WouldBlock` means the kernel's queue is full (the frame
    /// is not sent: a full NIC queue drops it too); `EIO` means the interface is down.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        loop {
            match self.iface.send(frame) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The kernel's figures for a TAP, as [`TapDevice::kernel_counters`] reads them. The
/// kernel's "transmit" side of a TAP is the way toward the process that reads it: a
/// frame the kernel sends while its queue toward the reader (`txqueuelen` frames) is
/// full is dropped there and counted, before the reader could see it, exactly as a
/// NIC drops what arrives while its receive ring is full. A burst the reader is too
/// slow for is lost there, and the kernel's TCP resends it after a timeout (a tail-loss
/// probe or an RTO, 200 ms or more): a delay the network being measured did not cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCounters {
    /// The interface's transmit queue, in frames (`ip link set DEV txqueuelen N`).
    pub queue_len: u32,
    /// Frames the kernel dropped on their way to the process (its `tx_dropped`).
    pub to_host_dropped: u64,
    /// Frames the process wrote that the kernel dropped (its `rx_dropped`).
    pub from_host_dropped: u64,
}

impl KernelCounters {
    /// What the kernel counts on interface `name` now: its transmit queue's length and
    /// the frames it dropped each way. Read from `/proc/self/net/dev`, which shows the
    /// calling process's network namespace (a namespace entered without remounting
    /// `/sys` would make `/sys/class/net` show another's). Needs no privilege.
    pub fn read(name: &str) -> io::Result<KernelCounters> {
        let dev = std::fs::read_to_string(NET_DEV)?;
        let (from_host_dropped, to_host_dropped) =
            parse_net_dev_drops(&dev, name).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{NET_DEV} has no line for {name}"),
                )
            })?;
        let queue_len = InterfaceInfo::tx_queue_len(name)?;
        Ok(KernelCounters {
            queue_len,
            to_host_dropped,
            from_host_dropped,
        })
    }
}

/// The kernel's per-interface counters for the calling process's network namespace.
const NET_DEV: &str = "/proc/self/net/dev";

/// The receive and transmit drop counts of interface `name` in the text of
/// `/proc/net/dev`: after `name:`, eight receive fields (bytes, packets, errs, drop,
/// fifo, frame, compressed, multicast) and eight transmit ones (bytes, packets, errs,
/// drop, ...). `None` if the interface has no well-formed line.
fn parse_net_dev_drops(text: &str, name: &str) -> Option<(u64, u64)> {
    text.lines().find_map(|line| {
        let (iface, fields) = line.split_once(':')?;
        if iface.trim() != name {
            return None;
        }
        let fields: Vec<u64> = fields
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some((*fields.get(3)?, *fields.get(11)?))
    })
}

/// The descriptor, to wait on with poll(2).
impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.iface.as_raw_fd()
    }
}

/// Whether `name` can be a Linux interface name (and is safe to hand to ioctls).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Attaching to a TAP turns its carrier on, but the kernel activates the interface's
/// transmit queue a little later (linkwatch; IFF_RUNNING is set at that moment). Until
/// then every frame the kernel sends toward us is dropped, so the host's first ARP
/// request went unanswered and its first connect cost smoltcp's 1 s ARP retry (seen in
/// every other back-to-back run). Wait for IFF_RUNNING, at most [`RUNNING_WAIT`].
fn wait_until_running(name: &str) {
    let start = std::time::Instant::now();
    while start.elapsed() < RUNNING_WAIT {
        match InterfaceInfo::query(name) {
            Ok(Some(info)) if info.flags & IFF_RUNNING == 0 => std::thread::sleep(RUNNING_POLL),
            _ => return,
        }
    }
}

fn set_non_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What the kernel says about an interface, read before attaching to it.
struct InterfaceInfo {
    flags: libc::c_short,
    mtu: usize,
}

impl InterfaceInfo {
    /// `Ok(None)` when no interface of that name exists in this network namespace.
    fn query(name: &str) -> io::Result<Option<InterfaceInfo>> {
        let sock = inet_socket()?;
        let flags = match ifreq_ioctl(sock.as_raw_fd(), name, libc::SIOCGIFFLAGS) {
            // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
            Ok(req) => unsafe { req.ifr_ifru.ifru_flags },
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(e),
        };
        let req = ifreq_ioctl(sock.as_raw_fd(), name, libc::SIOCGIFMTU)?;
        // SAFETY: SIOCGIFMTU filled the mtu member of the union.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        Ok(Some(InterfaceInfo {
            flags,
            mtu: usize::try_from(mtu).unwrap_or(1500),
        }))
    }
}

impl InterfaceInfo {
    /// The transmit queue length of interface `name` (SIOCGIFTXQLEN).
    fn tx_queue_len(name: &str) -> io::Result<u32> {
        let sock = inet_socket()?;
        let req = ifreq_ioctl(sock.as_raw_fd(), name, libc::SIOCGIFTXQLEN)?;
        // SAFETY: SIOCGIFTXQLEN filled `ifr_qlen`, the union's int member (which
        // libc names `ifru_ifindex`).
        let len = unsafe { req.ifr_ifru.ifru_ifindex };
        Ok(u32::try_from(len).unwrap_or(0))
    }
}

/// A socket to address netdevice(7) ioctls to.
fn inet_socket() -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: a plain socket(2) call; the descriptor is closed by OwnedFd.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// One netdevice(7) ioctl that reads a `struct ifreq` for `name` (already validated:
/// at most 15 ASCII bytes, so it fits with its NUL).
fn ifreq_ioctl(fd: RawFd, name: &str, request: libc::c_ulong) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a valid, NUL-terminated ifreq that outlives the call.
    if unsafe { libc::ioctl(fd, request as _, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(req)
}

/// IPv4 addresses (and prefix lengths) configured on interface `name`.
fn interface_ipv4_addrs(name: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name owned by the list.
        let ifa_name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        // SAFETY: ifa_addr points to at least a sockaddr header.
        let family = unsafe { (*ifa.ifa_addr).sa_family };
        if ifa_name.to_bytes() != name.as_bytes() || i32::from(family) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address and netmask are sockaddr_in.
        let (addr, mask) = unsafe {
            (
                (*(ifa.ifa_addr as *const libc::sockaddr_in))
                    .sin_addr
                    .s_addr,
                (*(ifa.ifa_netmask as *const libc::sockaddr_in))
                    .sin_addr
                    .s_addr,
            )
        };
        let prefix = u32::from_be(mask).leading_ones() as u8;
        out.push((Ipv4Addr::from(u32::from_be(addr)), prefix));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drop columns of `/proc/net/dev` as Linux 6.18 prints them (the `tk0` line
    /// is the one `ip -s link show tk0` gave as RX dropped 0, TX dropped 1309); a name
    /// that is only a prefix of another does not match it, and a short line is none.
    #[test]
    fn drops_from_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0\n  \
             tk0: 66375102  296683    0    0    0     0          0         0 27641872  283936    0 1309    0     0       0          0\n \
             tk01: 1 2 3 7 5 6 7 8 9 10 11 12 13 14 15 16\n  \
             tk9: 1 2 3\n";
        assert_eq!(parse_net_dev_drops(text, "tk0"), Some((0, 1309)));
        assert_eq!(parse_net_dev_drops(text, "tk01"), Some((7, 12)));
        assert_eq!(parse_net_dev_drops(text, "tk"), None);
        assert_eq!(parse_net_dev_drops(text, "tk9"), None);
        assert_eq!(parse_net_dev_drops(text, "eth0"), None);
    }

    #[test]
    fn names() {
        assert!(valid_name("tk0"));
        assert!(valid_name("tap-lab_1.2"));
        assert!(valid_name("abcdefghijklmno"));
        assert!(!valid_name("abcdefghijklmnop"), "16 bytes: too long");
        assert!(!valid_name(""));
        assert!(!valid_name(".."));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("tk0\0"));
    }

    #[test]
    fn missing_device_is_one_clear_sentence() {
        // No interface has this name (it is only checked, never created).
        let err = TapDevice::open("tkmissing9").unwrap_err();
        assert!(matches!(err, TapError::Missing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "no TAP device 'tkmissing9': create it with sudo scripts/tap-up.sh, and run \
             tcpknobs inside its namespace (sudo ip netns exec tcpknobs sudo -u $USER \
             tcpknobs ...)"
        );
        let err = TapDevice::open("bad/name").unwrap_err();
        assert!(matches!(err, TapError::InvalidName { .. }), "{err:?}");
    }

    #[test]
    fn loopback_is_not_a_tap() {
        // `lo` exists in every namespace; attaching to it as a TAP must fail cleanly
        // (EINVAL as root; without root, /dev/net/tun or the ioctl refuses first).
        match TapDevice::open("lo") {
            Err(
                TapError::NotTap { .. }
                | TapError::NoPermission
                | TapError::NotOwner { .. }
                | TapError::NoTunDevice,
            ) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }

    #[test]
    fn loopback_addresses() {
        let addrs = interface_ipv4_addrs("lo").expect("getifaddrs works");
        // lo may be down without addresses in a fresh namespace; if it has one it is
        // 127.0.0.1/8.
        for (a, p) in addrs {
            assert!(a.is_loopback());
            assert_eq!(p, 8);
        }
    }
}

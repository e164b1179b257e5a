//! Who holds an upload's write claim. A claim names its holder process so
//! that, after a crash and restart, a claim whose holder is known to be gone
//! can be taken over at once instead of waiting for its lease to lapse.
//!
//! Only a holder on this machine, in this boot and in this PID namespace can
//! be checked (through `/proc/<pid>/stat`, its start time guarding against a
//! reused PID); a holder on a machine that has rebooted since is gone too.
//! About any other holder nothing is known, and its claim lapses with the lease.

use std::sync::OnceLock;

/// The identity of a process holding a claim. Empty fields are unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    /// Linux `boot_id`.
    pub boot_id: String,
    /// The PID namespace (`/proc/self/ns/pid` link text).
    pub pid_ns: String,
    pub pid: u32,
    /// Start time in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
    pub start_ticks: u64,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The start time of process `pid` in this PID namespace, `None` when there
/// is no such process.
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Fields may not be empty or hold the separator.
fn field(s: &str) -> &str {
    if s.is_empty() || s.contains(char::is_whitespace) {
        "-"
    } else {
        s
    }
}

impl Holder {
    /// This process.
    pub fn current() -> &'static Holder {
        static CURRENT: OnceLock<Holder> = OnceLock::new();
        CURRENT.get_or_init(|| Holder {
            host: read_trimmed("/proc/sys/kernel/hostname"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pid: std::process::id(),
            start_ticks: start_ticks("self").unwrap_or(0),
        })
    }

    /// The form stored with a claim.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            field(&self.host),
            field(&self.boot_id),
            field(&self.pid_ns),
            self.pid,
            self.start_ticks
        )
    }

    /// Reads [`Holder::encode`]'s form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Holder> {
        let mut parts = text.split(' ');
        let mut next = || {
            parts
                .next()
                .map(|s| if s == "-" { String::new() } else { s.to_owned() })
        };
        let holder = Holder {
            host: next()?,
            boot_id: next()?,
            pid_ns: next()?,
            pid: next()?.parse().ok()?,
            start_ticks: next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(holder)
    }

    /// Whether this holder is known to be gone, judged from `me`.
    pub fn is_gone_seen_from(&self, me: &Holder) -> bool {
        let known = |a: &str, b: &str| !a.is_empty() && !b.is_empty();
        if !known(&self.host, &me.host) || self.host != me.host || !known(&self.boot_id, &me.boot_id) {
            return false;
        }
        if self.boot_id != me.boot_id {
            return true;
        }
        if !known(&self.pid_ns, &me.pid_ns) || self.pid_ns != me.pid_ns || self.start_ticks == 0 {
            return false;
        }
        start_ticks(&self.pid.to_string()) != Some(self.start_ticks)
    }

    /// Whether this holder is known to be gone, judged from this process.
    pub fn is_gone(&self) -> bool {
        self.is_gone_seen_from(Holder::current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited_child() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    }

    #[test]
    fn a_holder_reads_back_from_its_stored_form() {
        let me = Holder::current().clone();
        assert_eq!(Holder::parse(&me.encode()), Some(me));
        let unknown = Holder {
            host: String::new(),
            boot_id: "b".into(),
            pid_ns: String::new(),
            pid: 7,
            start_ticks: 9,
        };
        assert_eq!(Holder::parse(&unknown.encode()), Some(unknown));
        assert_eq!(Holder::parse("a b c 1"), None);
        assert_eq!(Holder::parse("a b c x 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_an_exited_one_or_another_boot_is_gone() {
        let me = Holder::current();
        assert!(!me.is_gone());
        let exited = Holder {
            pid: exited_child(),
            ..me.clone()
        };
        assert!(exited.is_gone());
        let reused_pid = Holder {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(reused_pid.is_gone(), "a PID now held by a later process");
        let rebooted = Holder {
            boot_id: "an-earlier-boot".into(),
            ..me.clone()
        };
        assert!(rebooted.is_gone());
    }

    #[test]
    fn a_holder_elsewhere_or_unknown_is_never_taken_for_gone() {
        let me = Holder::current();
        let dead_pid = exited_child();
        for other in [
            Holder {
                host: "another-host".into(),
                pid: dead_pid,
                ..me.clone()
            },
            Holder {
                pid_ns: "pid:[1]".into(),
                pid: dead_pid,
                ..me.clone()
            },
            Holder {
                boot_id: String::new(),
                pid: dead_pid,
                ..me.clone()
            },
        ] {
            assert!(!other.is_gone(), "{other:?}");
        }
    }
}

//! Least privilege for local users (issue 10, item 3): the socket is 0660 and belongs to
//! `socket_group`, from the moment it appears; a user outside the group cannot talk to it.
//!
//! The test that switches users runs only as root (CI runs as root); otherwise it says it
//! was skipped and passes.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use common::{Daemon, ONE_DRIVE_FOUR_SLOTS, changer_binary};

/// A group root is not in by default and `nobody` is not in (`daemon` on Debian): stands for
/// the package's `changer` group.
const GROUP: (&str, u32) = ("daemon", 1);

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A group of this process other than its primary one when it can have any (root), else its
/// primary one: the socket must end up in it.
fn some_group() -> (String, u32) {
    if nix::unistd::geteuid().is_root() {
        return (GROUP.0.to_owned(), GROUP.1);
    }
    let gid = nix::unistd::getegid();
    let group = nix::unistd::Group::from_gid(gid)
        .unwrap()
        .expect("a named group");
    (group.name, gid.as_raw())
}

#[test]
fn the_socket_is_0660_and_belongs_to_socket_group() {
    let (name, gid) = some_group();
    let mut d = Daemon::new(
        ONE_DRIVE_FOUR_SLOTS,
        &format!("socket_group = \"{name}\""),
        "",
    );
    d.start();
    let meta = std::fs::symlink_metadata(&d.socket).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    assert_eq!(meta.gid(), gid);
    // The private directory it was bound in is gone.
    let leftovers: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".changerd"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_user_outside_the_group_cannot_talk_to_the_socket() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIPPED a_user_outside_the_group_cannot_talk_to_the_socket: it switches users and \
             runs only as root (as CI does)"
        );
        return;
    }
    assert!(
        Path::new("/usr/bin/setpriv").exists(),
        "/usr/bin/setpriv (util-linux) is needed to run a command as nobody"
    );
    let mut d = Daemon::new(
        ONE_DRIVE_FOUR_SLOTS,
        &format!("socket_group = \"{}\"", GROUP.0),
        "",
    );
    // Others may enter the test's directory and read the config: only the socket's mode and
    // group (and the lock directory's) stand in their way.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of `changer` nobody can run wherever the checkout is (under /root, say): a
    // failure to run it must not pass for a refusal.
    let changer = d.dir.path().join("changer");
    std::fs::copy(changer_binary(), &changer).unwrap();
    std::fs::set_permissions(&changer, std::fs::Permissions::from_mode(0o755)).unwrap();
    d.start();
    // `changer status` as nobody:nogroup, with `groups` (a setpriv option) as its groups.
    let status = |groups: &str| {
        std::process::Command::new("/usr/bin/setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", groups])
            .arg(&changer)
            .arg("status")
            .arg(d.device())
            .env("CHANGER_CONFIG", &d.config)
            .env("CHANGER_SOCKET", &d.socket)
            .env("CHANGER_LOG", "debug")
            .output()
            .unwrap()
    };
    let out = status("--clear-groups");
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to changerd at {}: Permission denied",
            d.socket.display()
        )),
        "{}",
        text(&out)
    );
    // The same user in the group is answered (so the refusal above is the group's doing).
    let out = status(&format!("--groups={}", GROUP.1));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("TAPE01L6"),
        "{}",
        text(&out)
    );
}

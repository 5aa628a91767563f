//! Least privilege for local users (issue 10, item 3): lock files 0660 whatever the umask, in a
//! directory of the `changer` group; a user outside the group cannot take a library's lock.
//!
//! The tests that switch users run only as root (CI runs as root); otherwise they say they
//! were skipped and pass.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `mtx status` of a small library.
const LIBRARY: &str = "  Storage Changer /dev/sg3:1 Drives, 4 Slots ( 0 Import/Export )
Data Transfer Element 0:Empty
      Storage Element 1:Full :VolumeTag=TAPE01L6
      Storage Element 2:Full :VolumeTag=TAPE02L6
      Storage Element 3:Empty
      Storage Element 4:Empty
";

/// A group root is not in by default and `nobody` is not in: stands for the package's
/// `changer` group.
const GROUP_GID: u32 = 1; // `daemon` on Debian

struct Setup {
    dir: tempfile::TempDir,
    library: PathBuf,
    config: PathBuf,
    locks: PathBuf,
}

impl Setup {
    /// A library and a config (no log file) others can read, in a directory they can enter.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let library = dir.path().join("library.txt");
        std::fs::write(&library, LIBRARY).unwrap();
        std::fs::set_permissions(&library, std::fs::Permissions::from_mode(0o666)).unwrap();
        // The simulator's own lock (the robot's, not ours), usable by every user.
        let sim_lock = dir.path().join("library.txt.lock");
        std::fs::write(&sim_lock, "").unwrap();
        std::fs::set_permissions(&sim_lock, std::fs::Permissions::from_mode(0o666)).unwrap();
        let locks = dir.path().join("locks");
        let config = dir.path().join("changer.toml");
        std::fs::write(&config, format!("lock_dir = \"{}\"\n", locks.display())).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        Setup {
            dir,
            library,
            config,
            locks,
        }
    }

    /// `changer sim:<library> list` (Bareos' protocol: takes the library's lock), run through
    /// `wrapper` (a command and its arguments, put in front).
    fn list(&self, wrapper: &[&str]) -> Output {
        // A copy in the test's directory: nobody may not be able to reach the target
        // directory (a checkout under /root), and a failure to run it must not pass for a
        // refusal.
        let changer = self.dir.path().join("changer");
        if !changer.exists() {
            std::fs::copy(env!("CARGO_BIN_EXE_changer"), &changer).unwrap();
            std::fs::set_permissions(&changer, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let changer = changer.to_str().unwrap();
        let device = format!("sim:{}", self.library.display());
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.extend([changer, device.as_str(), "list"]);
        Command::new(argv[0])
            .args(&argv[1..])
            .env("CHANGER_CONFIG", &self.config)
            .env("CHANGER_SOCKET", self.dir.path().join("no-daemon.sock"))
            .env_remove("CHANGER_LOG")
            .output()
            .unwrap()
    }

    fn lock_file(&self) -> PathBuf {
        std::fs::read_dir(&self.locks)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "lock"))
            .expect("a lock file")
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Root or not; when not, says that `test` was skipped.
fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIPPED {test}: it switches users and runs only as root (as CI does)");
    false
}

/// The command that runs the rest of a command line as `nobody`:`nogroup` plus the given
/// supplementary groups (none: outside every group). util-linux's setpriv (Debian 12).
fn as_nobody(groups: Option<u32>) -> Vec<String> {
    assert!(
        Path::new("/usr/bin/setpriv").exists(),
        "/usr/bin/setpriv (util-linux) is needed to run a command as nobody"
    );
    let mut w = vec![
        "/usr/bin/setpriv".to_owned(),
        "--reuid=nobody".to_owned(),
        "--regid=nogroup".to_owned(),
    ];
    match groups {
        None => w.push("--clear-groups".to_owned()),
        Some(g) => w.push(format!("--groups={g}")),
    }
    w
}

#[test]
fn lock_files_are_0660_and_the_directory_2770_whatever_the_umask() {
    let s = Setup::new();
    let out = s.list(&["/bin/sh", "-c", "umask 0777; exec \"$0\" \"$@\""]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&s.locks), 0o2770);
    assert_eq!(mode(&s.lock_file()), 0o660);
}

#[test]
fn a_planted_symlink_is_refused_and_its_target_untouched() {
    let s = Setup::new();
    let target = s.dir.path().join("precious");
    std::fs::write(&target, "keep\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::DirBuilder::new()
        .mode(0o770)
        .create(&s.locks)
        .unwrap();
    // The lock's name (from the library's serial): learnt from a normal run.
    let out = s.list(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let lock = s.lock_file();
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let out = s.list(&[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert_eq!(mode(&target), 0o600);
}

#[test]
fn a_user_outside_the_group_cannot_take_the_lock() {
    if !root_or_skip("a_user_outside_the_group_cannot_take_the_lock") {
        return;
    }
    let s = Setup::new();
    // As tmpfiles.d makes it: root:changer 2770.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&s.locks)
        .unwrap();
    std::fs::set_permissions(&s.locks, std::fs::Permissions::from_mode(0o2770)).unwrap();
    nix::unistd::chown(&s.locks, None, Some(nix::unistd::Gid::from_raw(GROUP_GID))).unwrap();

    let outsider = as_nobody(None);
    let outsider: Vec<&str> = outsider.iter().map(String::as_str).collect();
    let out = s.list(&outsider);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_dir(&s.locks).unwrap().count(), 0);

    // The same user in the group may (so the refusal above is the group's doing).
    let member = as_nobody(Some(GROUP_GID));
    let member: Vec<&str> = member.iter().map(String::as_str).collect();
    let out = s.list(&member);
    assert!(out.status.success(), "{}", text(&out));
    let lock = s.lock_file();
    let meta = std::fs::metadata(&lock).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), mode(&lock)),
        (65534, GROUP_GID, 0o660)
    );
    // And root, after it, uses the member's lock file.
    let out = s.list(&[]);
    assert!(out.status.success(), "{}", text(&out));
    // The outsider still cannot, now that the file exists.
    let out = s.list(&outsider);
    assert!(!out.status.success(), "{}", text(&out));
}

//! The disk under the data directory, when the server runs on this machine: the data
//! directory (seen through the server process's own root, `/proc/PID/root`, so a container's
//! mounts are the ones read) → its device number → `/sys/dev/block/MAJOR:MINOR` → the whole
//! disk's `queue/rotational` (PGTune's issues #10 and #16: the disk type was guessed wrong).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::baseline::Disk;

/// A disk brisk found, how sure it is, and from which files.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFound {
    pub disk: Disk,
    pub device: String,
    pub source: String,
    /// Virtual disks (virtio `vd*`, Xen `xvd*`) report what the hypervisor chose, often
    /// "rotational" over SSD storage, so their answer is a weak one.
    pub virtual_disk: bool,
}

/// Linux's `major()` and `minor()` of a `dev_t` (glibc's encoding).
fn major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The disk under `data_directory` of server process `pid`, under `root` (`/`, or a test's
/// directory shaped like one). `Err` says why not, for the report.
pub fn detect(root: &Path, pid: u32, data_directory: &str) -> Result<DiskFound, String> {
    let proc_dir = root.join("proc").join(pid.to_string());
    let cmdline = std::fs::read(proc_dir.join("cmdline"))
        .map_err(|_| format!("the server's process (pid {pid}) is not on this machine"))?;
    if !String::from_utf8_lossy(&cmdline).contains("postgres") {
        return Err(format!("pid {pid} here is not the server's process"));
    }
    let path = proc_dir
        .join("root")
        .join(data_directory.trim_start_matches('/'));
    let meta =
        std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (major, minor) = major_minor(meta.dev());
    of_device(root, major, minor)
}

/// The disk of block device `major:minor`, from `/sys/dev/block`.
pub fn of_device(root: &Path, major: u64, minor: u64) -> Result<DiskFound, String> {
    let link = root.join(format!("sys/dev/block/{major}:{minor}"));
    let dir = std::fs::canonicalize(&link).map_err(|_| {
        format!("the data directory's device {major}:{minor} is not a block device (overlay, tmpfs or a network file system)")
    })?;
    // A partition's queue is its disk's, one directory up.
    let disk_dir = match dir.parent() {
        Some(parent) if dir.join("partition").exists() => parent.to_path_buf(),
        _ => dir.clone(),
    };
    let rotational_file = disk_dir.join("queue/rotational");
    let rotational = std::fs::read_to_string(&rotational_file)
        .map_err(|_| format!("{} is unreadable", rotational_file.display()))?;
    let device = disk_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let disk = match rotational.trim() {
        "1" => Disk::Hdd,
        "0" if device.starts_with("nvme") => Disk::Nvme,
        "0" => Disk::Ssd,
        other => return Err(format!("{}: {other:?}", rotational_file.display())),
    };
    let virtual_disk = device.starts_with("vd") || device.starts_with("xvd");
    Ok(DiskFound {
        disk,
        source: format!(
            "/sys/dev/block/{major}:{minor} ({device}) queue/rotational = {}",
            rotational.trim()
        ),
        device,
        virtual_disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `/sys/dev/block/MAJ:MIN` linking to `devices/.../name` as the kernel lays it out.
    fn device(root: &Path, dev: &str, path: &str) {
        std::fs::create_dir_all(root.join("sys/dev/block")).unwrap();
        std::fs::create_dir_all(root.join("sys").join(path)).unwrap();
        symlink(
            format!("../../{path}"),
            root.join("sys/dev/block").join(dev),
        )
        .unwrap();
    }

    #[test]
    fn a_partition_is_judged_by_its_disk_and_nvme_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "sys/devices/pci0/nvme/nvme0n1/queue/rotational",
            "0\n",
        );
        device(root, "259:1", "devices/pci0/nvme/nvme0n1/nvme0n1p1");
        write(
            root,
            "sys/devices/pci0/nvme/nvme0n1/nvme0n1p1/partition",
            "1\n",
        );
        let found = of_device(root, 259, 1).unwrap();
        assert_eq!(found.disk, Disk::Nvme);
        assert_eq!(found.device, "nvme0n1");
        assert!(!found.virtual_disk);

        write(root, "sys/devices/pci0/ata1/sda/queue/rotational", "1\n");
        device(root, "8:2", "devices/pci0/ata1/sda/sda2");
        write(root, "sys/devices/pci0/ata1/sda/sda2/partition", "2\n");
        assert_eq!(of_device(root, 8, 2).unwrap().disk, Disk::Hdd);

        write(root, "sys/devices/pci0/ata2/sdb/queue/rotational", "0\n");
        device(root, "8:16", "devices/pci0/ata2/sdb");
        assert_eq!(of_device(root, 8, 16).unwrap().disk, Disk::Ssd);

        write(
            root,
            "sys/devices/pci0/virtio1/block/vda/queue/rotational",
            "1\n",
        );
        device(root, "254:0", "devices/pci0/virtio1/block/vda");
        let vda = of_device(root, 254, 0).unwrap();
        assert!(vda.virtual_disk, "{vda:?}");
        // An overlay's anonymous device has no entry: not a guess, a reason.
        let err = of_device(root, 0, 42).unwrap_err();
        assert!(err.contains("not a block device"), "{err}");
    }

    #[test]
    fn the_data_directory_is_read_through_the_server_process_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "proc/77/cmdline", "postgres: checkpointer\0");
        write(root, "proc/88/cmdline", "bash\0");
        // A directory of the test stands for the data directory in the server's root.
        std::fs::create_dir_all(root.join("proc/77/root/srv/pgdata")).unwrap();
        assert!(detect(root, 77, "/nowhere")
            .unwrap_err()
            .contains("cannot read"));
        assert!(detect(root, 88, "/srv/pgdata")
            .unwrap_err()
            .contains("not the server"));
        assert!(detect(root, 99, "/srv/pgdata")
            .unwrap_err()
            .contains("not on this machine"));
        // The data directory's device, looked up under the same root.
        let dev = std::fs::metadata(root.join("proc/77/root/srv/pgdata"))
            .unwrap()
            .dev();
        let (major, minor) = major_minor(dev);
        assert_eq!(
            detect(root, 77, "/srv/pgdata"),
            of_device(root, major, minor)
        );
    }

    #[test]
    fn device_numbers_decode_as_glibc_does() {
        // makedev(259, 1) and makedev(8, 2); a minor above 255 uses the high bits.
        assert_eq!(major_minor((259 << 8) | 1), (259, 1));
        assert_eq!(major_minor((8 << 8) | 2), (8, 2));
        assert_eq!(
            major_minor((8 << 8) | ((300 & !0xff) << 12) | (300 & 0xff)),
            (8, 300)
        );
    }
}

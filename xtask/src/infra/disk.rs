//! Free disk space where the run writes.
//!
//! A full `cargo xtask test` on a fresh clone writes a lot: the debug and
//! release targets, the split checks, Docker's images and build cache. When
//! the disk fills, rustc fails with "No space left on device" in the middle
//! of a build, minutes in, and the summary only says that a build failed. So
//! the run says up front when the disk looks short, and a failed step names
//! a full disk when that is what it meets.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const GIB: u64 = 1 << 30;

/// Below this, a failed step is blamed on the disk as well as its error.
const NEARLY_FULL: u64 = GIB;

/// Bytes free for an unprivileged writer on the file system holding `path`,
/// or `None` when it cannot be read.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string and `stat` is a valid
    // out-pointer that statvfs fills on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// A warning when less than `need` bytes are free under `path`.
pub fn shortfall(path: &Path, need: u64, what: &str) -> Option<String> {
    let free = free_bytes(path)?;
    (free < need).then(|| {
        format!(
            "only {} free on the disk holding {}; {what} writes up to about {} on a fresh \
             clone (less with a warm target/), and fails with \"No space left on device\" \
             when it runs out",
            gib(free),
            path.display(),
            gib(need),
        )
    })
}

/// What to add to a failed step's message when the disk is (nearly) full.
pub fn full_hint(path: &Path) -> Option<String> {
    let free = free_bytes(path)?;
    (free < NEARLY_FULL).then(|| {
        format!(
            "the disk holding {} has {} free: out of space? \
             (`cargo clean`, `docker system prune` free the most)",
            path.display(),
            gib(free)
        )
    })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_directory_has_a_readable_amount_of_free_space() {
        let free = free_bytes(Path::new(".")).expect("statvfs on the working directory");
        // Whatever the machine, it is less than what a u64 counts and the
        // warning fires for a need above it.
        assert!(free < u64::MAX);
        let warning = shortfall(Path::new("."), free.saturating_add(GIB), "the run")
            .expect("a need above what is free warns");
        assert!(warning.contains("No space left on device"), "{warning}");
        assert!(shortfall(Path::new("."), 0, "the run").is_none());
    }

    #[test]
    fn a_path_that_does_not_exist_has_no_figure_and_no_warning() {
        let missing = Path::new("/nonexistent/xtask/disk/check");
        assert_eq!(free_bytes(missing), None);
        assert_eq!(shortfall(missing, u64::MAX, "the run"), None);
        assert_eq!(full_hint(missing), None);
    }

    #[test]
    fn sizes_print_in_gib_with_one_decimal() {
        assert_eq!(gib(GIB / 2), "0.5 GiB");
        assert_eq!(gib(24 * GIB), "24.0 GiB");
    }
}

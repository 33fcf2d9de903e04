//! A test hook, compiled only with the `test-hooks` feature (the test
//! suite's builds; never a release build): the power-loss test's copies of
//! the database at every sync.
use std::fs::File;
use std::path::Path;

/// `STORENODE_TEST_POWER_CUTS=DIR` (tests only): after every `fdatasync`
/// the writer copies the database directory to `DIR/NNNNNN/`, before it
/// answers anyone. Nothing else writes the database between a sync and the
/// writer's next batch, so each copy is what a power cut right after that
/// sync would leave: exactly what was made durable. A test then opens every
/// copy and checks that each acknowledged write is in the copies taken
/// before its answer.
pub(super) struct PowerCuts {
    from: std::path::PathBuf,
    to: std::path::PathBuf,
    n: u64,
}

impl PowerCuts {
    pub(super) fn from_env(db_dir: &Path) -> Option<PowerCuts> {
        let to = std::env::var_os("STORENODE_TEST_POWER_CUTS")?;
        tracing::warn!(dir = ?to, "copying the database at every sync (a test of power loss)");
        Some(PowerCuts {
            from: db_dir.to_path_buf(),
            to: to.into(),
            n: 0,
        })
    }

    pub(super) fn take(&mut self) -> std::io::Result<()> {
        let dir = self.to.join(format!("{:06}", self.n));
        self.n += 1;
        let tmp = dir.with_extension("part");
        std::fs::create_dir_all(&tmp)?;
        for e in std::fs::read_dir(&self.from)? {
            let e = e?;
            if e.file_type()?.is_file() {
                sparse_copy(&e.path(), &tmp.join(e.file_name()))?;
            }
        }
        // Complete copies only: the test reads directories without `.part`.
        std::fs::rename(tmp, dir)
    }
}

/// Copy a file, leaving its all-zero 64 KiB stretches as holes (sled
/// preallocates its segments).
fn sparse_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut src = File::open(from)?;
    let mut dst = File::create(to)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            dst.seek(SeekFrom::Start(at))?;
            dst.write_all(&buf[..n])?;
        }
        at += n as u64;
    }
    dst.set_len(at)
}

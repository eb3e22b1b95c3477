//! `--shard K/N`: a deterministic 1/N of the cases, so CI can spread a suite.

use crate::errors::ReplayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub k: u32,
    pub n: u32,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self, ReplayError> {
        let bad = || ReplayError::BadShard(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// Whether the case at `index` (of `total`, in file-name order) belongs to
    /// this shard. Shards are contiguous blocks of near-equal size: a case often
    /// needs the state its predecessors left in the app (create, then read), and
    /// a block keeps such runs together except at its edges.
    pub fn includes(&self, index: usize, total: usize) -> bool {
        let (k, n) = ((self.k - 1) as usize, self.n as usize);
        let start = total * k / n;
        let end = total * (k + 1) / n;
        (start..end).contains(&index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_cases() {
        let shards: Vec<Shard> = (1..=3)
            .map(|k| Shard::parse(&format!("{k}/3")).unwrap())
            .collect();
        for total in [0, 1, 2, 7, 100] {
            for i in 0..total {
                assert_eq!(shards.iter().filter(|s| s.includes(i, total)).count(), 1);
            }
        }
        let second = Shard::parse("2/4").unwrap();
        let picked: Vec<usize> = (0..10).filter(|i| second.includes(*i, 10)).collect();
        assert_eq!(picked, [2, 3, 4]);
        for bad in ["0/3", "4/3", "x/3", "3", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}

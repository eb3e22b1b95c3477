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

    /// Whether the case at `index` (in file-name order) belongs to this shard.
    /// Round-robin keeps shards balanced and stable as cases are added at the end.
    pub fn includes(&self, index: usize) -> bool {
        index % self.n as usize == (self.k - 1) as usize
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
        for i in 0..100 {
            assert_eq!(shards.iter().filter(|s| s.includes(i)).count(), 1);
        }
        assert!(Shard::parse("2/4").unwrap().includes(1));
        for bad in ["0/3", "4/3", "x/3", "3", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}

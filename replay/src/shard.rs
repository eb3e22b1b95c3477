//! `--shard K/N`: a deterministic part of the cases, so CI can spread a
//! suite, with cases that depend on each other kept together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reel_core::suite::load::LoadedCase;
use reel_core::suite::{case_number, origin_form};
use reel_core::template::response_cases;

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

    /// Which of `cases` (in file-name order) this shard runs, in that order.
    /// Cases that depend on each other stay in one shard: one whose request,
    /// expected answer or mocks refer to an earlier answer
    /// (`${0003.response.body.id}`) with that case, and every case after a
    /// write (POST, PUT, PATCH, DELETE) that reaches the collection it
    /// wrote (`/books` after `POST /books`, `GET /books/6` after `PUT
    /// /books/6`) with that write. Each group goes, largest first, to the
    /// shard with the least recorded time so far, so shards take about
    /// the same time. Every shard computes the same plan from the same
    /// suite: together they run every case once.
    pub fn picks(&self, cases: &[LoadedCase]) -> Vec<bool> {
        let facts: Vec<Facts> = cases.iter().map(Facts::of).collect();
        let plan = plan(&facts, self.n as usize);
        plan.iter().map(|&s| s == (self.k - 1) as usize).collect()
    }
}

/// What sharding reads of a case.
#[derive(Debug, Clone, Default)]
struct Facts {
    /// `0003` of `0003-get-books`.
    number: String,
    method: String,
    /// The request's path, without its query.
    path: String,
    /// The numbers of the cases whose answers it refers to.
    refers_to: BTreeSet<String>,
    /// Recorded milliseconds, or 1 when not recorded.
    weight: f64,
}

impl Facts {
    fn of(c: &LoadedCase) -> Facts {
        let mut refers_to = BTreeSet::new();
        let mut scan = |v: Result<String, serde_json::Error>| {
            if let Ok(text) = v {
                refers_to.extend(response_cases(&text).into_iter().map(str::to_owned));
            }
        };
        scan(serde_json::to_string(&c.case.request));
        scan(serde_json::to_string(&c.case.response));
        scan(serde_json::to_string(&c.mocks));
        scan(serde_json::to_string(&c.redis));
        scan(serde_json::to_string(&c.pg));
        scan(serde_json::to_string(&c.mysql));
        let target = origin_form(&c.case.request.target);
        Facts {
            number: case_number(&c.case.name).to_owned(),
            method: c.case.request.method.to_ascii_uppercase(),
            path: target.split(['?', '#']).next().unwrap_or("/").to_owned(),
            refers_to,
            weight: c.case.duration_ms.filter(|d| *d > 0.0).unwrap_or(1.0),
        }
    }
}

/// The collection a write reaches: its path without a last segment that
/// names one item (a number, a UUID, a reference, a long opaque value).
fn collection(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, last)) if names_an_item(last) => parent,
        _ => trimmed,
    }
}

fn names_an_item(segment: &str) -> bool {
    segment.contains("${")
        || (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
        || reel_core::matcher::formats::text_kind(segment).is_some()
}

/// The collection a write reaches, if it is a write: what a POST names
/// (less an item it names, `POST /books/42`), the parent of the item a PUT,
/// PATCH or DELETE names (`PUT /posts/hello-world` reaches `/posts`). None
/// for the root: a write there says nothing of what it touches.
fn written<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    let wrote = match method {
        "POST" => collection(path),
        "PUT" | "PATCH" | "DELETE" => {
            let trimmed = path.trim_end_matches('/');
            trimmed
                .rsplit_once('/')
                .map_or(trimmed, |(parent, _)| parent)
        }
        _ => return None,
    };
    (!wrote.is_empty()).then_some(wrote)
}

/// Whether `path` is `collection` or under it.
fn under(path: &str, collection: &str) -> bool {
    let path = path.trim_end_matches('/');
    !collection.is_empty()
        && (path == collection
            || path
                .strip_prefix(collection)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// The cases to replay to see case `i` of `cases` (in file-name order) as a
/// whole run would: the earlier cases of its group (the answers it refers
/// to, the writes it reads) and itself.
pub fn needed_for(cases: &[LoadedCase], i: usize) -> Vec<bool> {
    let facts: Vec<Facts> = cases.iter().map(Facts::of).collect();
    let mut groups = groups(&facts);
    let root = groups.root(i);
    (0..cases.len())
        .map(|j| j <= i && groups.root(j) == root)
        .collect()
}

/// Cases that must run together: joined by references and by writes.
fn groups(cases: &[Facts]) -> Groups {
    let mut groups = Groups::new(cases.len());
    let by_number: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.number.as_str(), i))
        .collect();
    for (i, c) in cases.iter().enumerate() {
        for r in &c.refers_to {
            if let Some(&j) = by_number.get(r.as_str()) {
                groups.join(i, j);
            }
        }
        if let Some(wrote) = written(&c.method, &c.path) {
            for (j, later) in cases.iter().enumerate().skip(i + 1) {
                // A read of what was written or of what holds it.
                if under(&later.path, wrote) || under(wrote, later.path.trim_end_matches('/')) {
                    groups.join(i, j);
                }
            }
        }
    }
    groups
}

/// The shard (0-based) of each case.
fn plan(cases: &[Facts], n: usize) -> Vec<usize> {
    let mut groups = groups(cases);
    // Each group with its weight, largest first (ties: the earlier first).
    let mut weights: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        let w = weights.entry(groups.root(i)).or_insert((0.0, i));
        w.0 += c.weight;
    }
    let mut order: Vec<(usize, f64, usize)> = weights
        .into_iter()
        .map(|(root, (w, first))| (root, w, first))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    let mut load = vec![0.0f64; n.max(1)];
    let mut shard_of: HashMap<usize, usize> = HashMap::new();
    for (root, w, _) in order {
        let (least, _) = load
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .expect("at least one shard");
        load[least] += w;
        shard_of.insert(root, least);
    }
    (0..cases.len())
        .map(|i| shard_of[&groups.root(i)])
        .collect()
}

/// Union-find over case indexes.
struct Groups(Vec<usize>);

impl Groups {
    fn new(n: usize) -> Self {
        Groups((0..n).collect())
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        self.0[a.max(b)] = a.min(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(number: &str, method: &str, path: &str, refers_to: &[&str], weight: f64) -> Facts {
        Facts {
            number: number.into(),
            method: method.into(),
            path: path.into(),
            refers_to: refers_to.iter().map(|r| (*r).to_owned()).collect(),
            weight,
        }
    }

    /// A case that refers to an earlier answer, and the reads after a
    /// write to the same collection, share its shard; the rest spread out
    /// by recorded time, heaviest first.
    #[test]
    fn cases_that_depend_on_each_other_share_a_shard() {
        let cases = [
            case("0001", "GET", "/health", &[], 1.0),
            case("0002", "GET", "/authors", &[], 5.0),
            case("0003", "POST", "/books", &[], 2.0),
            case(
                "0004",
                "GET",
                "/books/${0003.response.body.id}/quote",
                &["0003"],
                1.0,
            ),
            case("0005", "GET", "/books", &[], 1.0),
            case("0006", "GET", "/orders/7", &[], 4.0),
            case("0007", "PUT", "/orders/7", &[], 1.0),
            case("0008", "GET", "/orders", &[], 1.0),
            case("0009", "GET", "/stats", &["0002"], 1.0),
            // A review written under a book, then the book read: together.
            case("0010", "POST", "/shelves/3/reviews", &[], 1.0),
            case("0011", "GET", "/shelves/3", &[], 1.0),
        ];
        let plan = plan(&cases, 3);
        let same = |a: usize, b: usize| plan[a - 1] == plan[b - 1];
        assert!(
            same(3, 4) && same(3, 5),
            "the write, its reference, a read after it: {plan:?}"
        );
        assert!(same(7, 8), "a read of the collection after a PUT: {plan:?}");
        assert!(same(2, 9), "{plan:?}");
        assert!(same(10, 11), "a read of what holds a write: {plan:?}");
        // Groups: {2,9} 6 ms, {3,4,5} 4, {6} 4 (a read before the write
        // needs nothing of it), {7,8} 2, {10,11} 2, {1} 1; heaviest first
        // (the earlier of equals) into the least loaded shard: 6, 7, 6 ms.
        assert_eq!(plan, [0, 0, 1, 1, 1, 2, 1, 1, 0, 2, 2]);
    }

    #[test]
    fn collections_are_read_from_paths() {
        assert_eq!(collection("/books/42"), "/books");
        assert_eq!(collection("/books/${0003.response.body.id}"), "/books");
        assert_eq!(
            collection("/carts/6fa459ea-ee8a-3ca4-894e-db77e160355e"),
            "/carts"
        );
        assert_eq!(collection("/books"), "/books");
        assert_eq!(collection("/login"), "/login");
        assert!(under("/books/7/quote", "/books") && under("/books", "/books"));
        assert!(!under("/bookstores", "/books"));
        assert!(
            !under("/books", ""),
            "the root's collection reaches nothing"
        );
        assert_eq!(written("POST", "/"), None);
        assert_eq!(written("PUT", "/posts/hello-world"), Some("/posts"));
        assert_eq!(
            written("POST", "/books/7/reviews"),
            Some("/books/7/reviews")
        );
        assert_eq!(written("GET", "/books"), None);
    }

    /// Every case runs in exactly one shard, for any count of shards.
    #[test]
    fn shards_partition_the_cases() {
        let cases: Vec<Facts> = (1..=50)
            .map(|i| {
                let method = if i % 7 == 0 { "POST" } else { "GET" };
                let refs: Vec<String> = if i % 5 == 0 {
                    vec![format!("{:04}", i - 3)]
                } else {
                    vec![]
                };
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                case(
                    &format!("{i:04}"),
                    method,
                    &format!("/r{}/{i}", i % 4),
                    &refs,
                    f64::from(i % 3 + 1),
                )
            })
            .collect();
        for n in [1, 2, 3, 8, 60] {
            let plan = plan(&cases, n);
            assert_eq!(plan.len(), cases.len());
            assert!(plan.iter().all(|&s| s < n), "{plan:?}");
        }
        assert!(plan(&[], 3).is_empty());
        for bad in ["0/3", "4/3", "x/3", "3", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}

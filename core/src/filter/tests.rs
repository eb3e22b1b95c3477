//! Route patterns and the sampler, decided as a recorder decides them.

use super::*;

fn p(text: &str) -> RoutePattern {
    RoutePattern::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn hits(pattern: &str, method: &str, target: &str) -> bool {
    p(pattern).matches(method.as_bytes(), path_of(target.as_bytes()))
}

#[test]
fn paths_match_segment_by_segment() {
    assert!(hits("/health", "GET", "/health"));
    assert!(hits("/health", "GET", "/health?full=1"));
    assert!(!hits("/health", "GET", "/health/"));
    assert!(!hits("/health", "GET", "/healthz"));
    assert!(!hits("/health", "GET", "/api/health"));

    assert!(hits("/books/*", "GET", "/books/12"));
    assert!(!hits("/books/*", "GET", "/books/12/quote"));
    assert!(!hits("/books/*", "GET", "/books"));
    assert!(hits(
        "/books/*/quote",
        "GET",
        "/books/12/quote?currency=EUR"
    ));
    assert!(hits("/static/*.css", "GET", "/static/site.css"));
    assert!(!hits("/static/*.css", "GET", "/static/site.js"));
    assert!(hits("/a/x*y*z", "GET", "/a/xyz"));
    assert!(hits("/a/x*y*z", "GET", "/a/x1y2y3z"));
    assert!(!hits("/a/x*y*z", "GET", "/a/xz"));

    assert!(hits("/static/**", "GET", "/static"));
    assert!(hits("/static/**", "GET", "/static/"));
    assert!(hits("/static/**", "GET", "/static/css/a/b.css"));
    assert!(!hits("/static/**", "GET", "/staticx/a"));
    assert!(hits("/**/edit", "GET", "/edit"));
    assert!(hits("/**/edit", "GET", "/a/b/edit"));
    assert!(!hits("/**/edit", "GET", "/a/b/edit/x"));
    assert!(hits("/**", "GET", "/"));
    assert!(hits("/", "GET", "/"));
    assert!(!hits("/", "GET", "/a"));
}

#[test]
fn paths_are_matched_as_received_without_the_query() {
    assert!(hits("/a%20b", "GET", "/a%20b?x=/c"));
    // An absolute-form target is matched by its path.
    assert!(hits("/books/*", "GET", "http://shop.example/books/1?x=1"));
    assert!(hits("/", "GET", "http://shop.example"));
    // A URL inside the query is not mistaken for one.
    assert!(!hits("/x", "GET", "/redirect?to=http://h/x"));
}

#[test]
fn methods_narrow_a_pattern() {
    assert!(hits("GET /api/*", "GET", "/api/a"));
    assert!(!hits("GET /api/*", "POST", "/api/a"));
    assert!(hits("get,head /api/*", "HEAD", "/api/a"));
    assert!(hits("* /api/*", "DELETE", "/api/a"));
    assert!(hits("OPTIONS", "OPTIONS", "/anything/at/all"));
    assert!(!hits("OPTIONS", "GET", "/"));
    assert_eq!(p("  GET   /x ").to_string(), "GET /x");
}

#[test]
fn bad_patterns_say_what_is_wrong() {
    let err = |t: &str| RoutePattern::parse(t).unwrap_err();
    assert!(err("").contains("empty pattern"), "{}", err(""));
    assert!(err("GET api/x").contains("should start with '/'"));
    assert!(err("GET /a b").contains("expected METHOD PATH"));
    assert!(err("/a b").contains("a path has no spaces"));
    assert!(err("G(T /a").contains("'G(T' is not an HTTP method"));
    assert!(err("GET, /a").contains("'' is not an HTTP method"));
    assert!(err("/a/**b").contains("whole segments"));
    assert!(err("/a?x=1").contains("query string is not matched"));
}

#[test]
fn include_then_exclude_decide_and_are_counted() {
    let f = RecordFilter::new(
        vec![p("/api/**")],
        vec![p("/api/health"), p("GET /api/static/**")],
        None,
        0,
    );
    assert_eq!(f.decide(b"GET", b"/api/books"), Verdict::Keep);
    assert_eq!(f.decide(b"POST", b"/api/static/x"), Verdict::Keep);
    assert_eq!(f.decide(b"GET", b"/other"), Verdict::Filtered);
    assert_eq!(f.decide(b"GET", b"/api/health"), Verdict::Filtered);
    assert_eq!(f.decide(b"GET", b"/api/static/a.css"), Verdict::Filtered);
    assert_eq!((f.filtered_out(), f.sampled_out()), (3, 0));
    assert!(!f.is_empty());
    assert!(RecordFilter::default().is_empty());
    assert_eq!(RecordFilter::default().decide(b"GET", b"/x"), Verdict::Keep);
}

#[test]
fn sampling_keeps_about_its_share_of_reads_and_every_write() {
    let rate = SampleRate::parse("0.5").unwrap();
    let f = RecordFilter::new(Vec::new(), Vec::new(), Some(rate), 42);
    let n = 10_000;
    let mut reads_kept = 0;
    for i in 0..n {
        let methods: [&[u8]; 3] = [b"GET", b"HEAD", b"OPTIONS"];
        let method = methods[i % 3];
        if f.decide(method, b"/books") == Verdict::Keep {
            reads_kept += 1;
        }
        assert_eq!(f.decide(b"POST", b"/books"), Verdict::Keep, "a write");
        assert_eq!(f.decide(b"DELETE", b"/books/1"), Verdict::Keep, "a write");
    }
    // Binomial(10000, 0.5): sd 50, these bounds are 6 sd wide.
    assert!((4_700..=5_300).contains(&reads_kept), "{reads_kept}");
    assert_eq!(f.sampled_out(), (n - reads_kept) as u64);
    assert_eq!(f.filtered_out(), 0);
}

#[test]
fn the_same_seed_keeps_the_same_reads() {
    let kept = |seed| {
        let f = RecordFilter::new(Vec::new(), Vec::new(), SampleRate::new(0.1), seed);
        (0..1000)
            .filter(|_| f.decide(b"GET", b"/") == Verdict::Keep)
            .count()
    };
    let pattern = |seed| {
        let f = RecordFilter::new(Vec::new(), Vec::new(), SampleRate::new(0.1), seed);
        (0..1000)
            .map(|_| f.decide(b"GET", b"/") == Verdict::Keep)
            .collect::<Vec<_>>()
    };
    assert_eq!(pattern(7), pattern(7));
    assert_ne!(pattern(7), pattern(8));
    assert!((50..=150).contains(&kept(7)), "{}", kept(7));
    let all = RecordFilter::new(Vec::new(), Vec::new(), SampleRate::new(1.0), 3);
    assert!((0..1000).all(|_| all.decide(b"GET", b"/") == Verdict::Keep));
}

#[test]
fn rates_are_more_than_zero_and_at_most_one() {
    assert_eq!(SampleRate::parse("0.25").unwrap().get(), 0.25);
    assert_eq!(SampleRate::parse("10%").unwrap().get(), 0.1);
    assert_eq!(SampleRate::parse("1").unwrap().get(), 1.0);
    for bad in ["0", "1.5", "-0.1", "abc", "", "NaN", "150%"] {
        let e = SampleRate::parse(bad).unwrap_err();
        assert!(e.contains("not a rate"), "{bad}: {e}");
    }
}

#[test]
fn a_session_setup_gives_back_the_filters_and_counts() {
    let f = RecordFilter::new(vec![p("GET /a")], vec![], SampleRate::new(0.5), 9);
    f.decide(b"GET", b"/b");
    let setup = json!({ "filter": f.to_json() });
    let s = FilterSummary::from_setup(&setup).unwrap();
    assert_eq!(s.include, ["GET /a"]);
    assert_eq!(s.sample, Some(0.5));
    assert_eq!(s.sample_seed, Some(9));
    assert_eq!((s.filtered_out, s.sampled_out, s.left_out()), (1, 0, 1));
    assert_eq!(FilterSummary::from_setup(&json!({})), None);
}

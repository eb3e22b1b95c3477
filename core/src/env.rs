//! The environment reel gives the app, the same when recording and replaying,
//! so an app configured from it needs no change between the two.

/// `REEL_DEP_<NAME>`: the address the app reaches dependency `name` at
/// (`<NAME>` upper-cased, other characters as `_`); `…_URL` is that address
/// as a URL whose scheme is the dependency's protocol (`http://`, `postgres://`).
pub fn dep_var(name: &str) -> String {
    format!("REEL_DEP_{}", upper_snake(name))
}

/// `pricing-v2.eu` → `PRICING_V2_EU`: a name usable in an environment variable.
pub fn upper_snake(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The variables for dependency `name`, which speaks `protocol` (`http`,
/// `postgres`), reached at `addr`. A Postgres URL has no user or database:
/// apps build their own from `REEL_DEP_<NAME>`.
pub fn dep_vars(name: &str, protocol: &str, addr: &str) -> [(String, String); 2] {
    let var = dep_var(name);
    [
        (format!("{var}_URL"), format!("{protocol}://{addr}")),
        (var, addr.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_upper_case_and_safe() {
        assert_eq!(super::dep_var("pricing-v2.eu"), "REEL_DEP_PRICING_V2_EU");
        let [(url_var, url), (var, addr)] = super::dep_vars("pricing", "http", "127.0.0.1:5");
        assert_eq!(
            (url_var.as_str(), url.as_str()),
            ("REEL_DEP_PRICING_URL", "http://127.0.0.1:5")
        );
        assert_eq!(
            (var.as_str(), addr.as_str()),
            ("REEL_DEP_PRICING", "127.0.0.1:5")
        );
    }

    #[test]
    fn the_url_scheme_is_the_protocol() {
        let [(url_var, url), (var, addr)] = super::dep_vars("db", "postgres", "127.0.0.1:5");
        assert_eq!(
            (url_var.as_str(), url.as_str()),
            ("REEL_DEP_DB_URL", "postgres://127.0.0.1:5")
        );
        assert_eq!(
            (var.as_str(), addr.as_str()),
            ("REEL_DEP_DB", "127.0.0.1:5")
        );
    }
}

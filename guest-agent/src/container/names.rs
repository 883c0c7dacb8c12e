//! Container IDs and names as Docker makes them: 64 hex characters of
//! randomness, and `adjective_surname` when the user gives no name.
//!
//! Owns the rules for what a name may be; it must never decide whether a
//! name is free (the registry does, under its lock).

use std::io::Read;

/// Docker's `restrictedNameChars`: a letter or digit, then at least one
/// more of letters, digits, `_`, `.` and `-`.
pub fn validate(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))
    }
}

/// Strips the leading `/` that the API puts on names (`/web` → `web`).
pub fn bare(name: &str) -> &str {
    name.strip_prefix('/').unwrap_or(name)
}

/// 32 random bytes as 64 lowercase hex digits. An ID that is all digits is
/// drawn again, as Docker does, so that a short ID never parses as a number.
pub fn new_id() -> std::io::Result<String> {
    loop {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A random number below `n`, from the same source as IDs.
fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    let r = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let v = match r {
        Ok(()) => u64::from_le_bytes(b),
        // No urandom: fall back on the clock, names only need to vary.
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    };
    (v % n as u64) as usize
}

/// `adjective_surname`, with a digit appended after the first retry, as
/// Docker's names-generator does. `taken` says whether a name is in use.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    for retry in 0..10 {
        let mut name =
            format!("{}_{}", ADJECTIVES[random_below(ADJECTIVES.len())], SURNAMES[random_below(SURNAMES.len())]);
        // Steve Wozniak is not boring (Docker's own rule).
        if name == "boring_wozniak" {
            continue;
        }
        if retry > 0 {
            name.push_str(&random_below(10).to_string());
        }
        if !taken(&name) {
            return name;
        }
    }
    // Ten collisions: make it unique by construction.
    format!("{}_{}", ADJECTIVES[0], new_id().map_or_else(|_| "x".into(), |id| id[..12].to_string()))
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "albattani",
    "allen",
    "almeida",
    "archimedes",
    "ardinghelli",
    "aryabhata",
    "austin",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "bell",
    "benz",
    "bhabha",
    "bohr",
    "booth",
    "borg",
    "bose",
    "bouman",
    "brahmagupta",
    "brattain",
    "brown",
    "buck",
    "burnell",
    "cannon",
    "carson",
    "cartwright",
    "cerf",
    "chandrasekhar",
    "chatelet",
    "chebyshev",
    "clarke",
    "cohen",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "dirac",
    "driscoll",
    "dubinsky",
    "easley",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gates",
    "goldberg",
    "goldstine",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hertz",
    "hodgkin",
    "hopper",
    "hypatia",
    "jackson",
    "jang",
    "jennings",
    "johnson",
    "kalam",
    "kepler",
    "khorana",
    "knuth",
    "kowalevski",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lovelace",
    "lumiere",
    "mahavira",
    "margulis",
    "matsumoto",
    "maxwell",
    "mayer",
    "mccarthy",
    "mcclintock",
    "meitner",
    "mendel",
    "mirzakhani",
    "montalcini",
    "moore",
    "morse",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nobel",
    "noether",
    "pascal",
    "pasteur",
    "perlman",
    "pike",
    "poincare",
    "ptolemy",
    "raman",
    "ramanujan",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shockley",
    "sinoussi",
    "stonebraker",
    "swartz",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "visvesvaraya",
    "wescoff",
    "wiles",
    "williams",
    "wilson",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(validate("web").is_ok());
        assert!(validate("a1_b.c-d").is_ok());
        assert!(validate("a").is_err(), "one character is too short");
        assert!(validate("_web").is_err());
        assert!(validate("we b").is_err());
        assert!(validate("").is_err());
        assert!(validate("web/x").unwrap_err().contains("only [a-zA-Z0-9]"));
    }

    #[test]
    fn ids_are_64_hex_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn generated_names_are_valid_and_avoid_taken_ones() {
        let n = generate(|_| false);
        validate(&n).unwrap();
        let (adj, sur) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&adj) && SURNAMES.contains(&sur), "{n}");
        // Every plain name taken: a digit is appended on retries.
        let n = generate(|c| !c.chars().last().unwrap().is_ascii_digit());
        assert!(n.chars().last().unwrap().is_ascii_digit(), "{n}");
        // Everything taken: still a fresh, valid name.
        let n = generate(|_| true);
        validate(&n).unwrap();
    }

    #[test]
    fn slash_is_stripped() {
        assert_eq!(bare("/web"), "web");
        assert_eq!(bare("web"), "web");
    }
}

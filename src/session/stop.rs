//! Stop strings in a stream of text: text that might be the start of a stop string is held
//! back until it is known not to be, so a stop string never reaches the reader even in part.

/// Watches streamed text for stop strings.
pub struct StopMatcher<'a> {
    stops: &'a [String],
    held: String,
}

impl<'a> StopMatcher<'a> {
    /// A matcher for `stops` (none: everything passes at once).
    pub fn new(stops: &'a [String]) -> Self {
        StopMatcher { stops, held: String::new() }
    }

    /// Adds `piece`. Returns the text that can be sent now, and whether a stop string was
    /// completed (then the text is what came before it, and the rest is dropped).
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let out = self.held[..at].to_owned();
            self.held.clear();
            return (out, true);
        }
        // Hold back the longest tail that a stop string starts with.
        let keep_from = (0..self.held.len())
            .filter(|&i| self.held.is_char_boundary(i))
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&self.held[i..])))
            .unwrap_or(self.held.len());
        let out = self.held[..keep_from].to_owned();
        self.held.drain(..keep_from);
        (out, false)
    }

    /// The text held back, once the stream ended without completing a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::StopMatcher;

    /// Feeds `pieces` and returns (sent text, stopped).
    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            let (text, hit) = m.push(p);
            out.push_str(&text);
            if hit {
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn a_stop_string_split_over_pieces_never_leaks() {
        let stops = vec!["Hello".to_string()];
        let mut m = StopMatcher::new(&stops);
        assert_eq!(m.push("say Hel"), ("say ".to_string(), false));
        assert_eq!(m.push("l"), (String::new(), false));
        assert_eq!(m.push("o world"), (String::new(), true));
    }

    #[test]
    fn held_text_that_does_not_complete_a_stop_is_sent() {
        assert_eq!(run(&["Hello"], &["a Hel", "p me"]), ("a Help me".into(), false));
        assert_eq!(run(&["Hello"], &["a Hel"]), ("a Hel".into(), false));
        assert_eq!(run(&[], &["x", "y"]), ("xy".into(), false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["cd", "b"], &["abcd"]), ("a".into(), true));
        assert_eq!(run(&["\n\n", "User:"], &["one\n", "\nUser:"]), ("one".into(), true));
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        assert_eq!(run(&["é!"], &["caf", "é", "é", "!"]), ("café".into(), true));
        assert_eq!(run(&["日本"], &["にほん日", "は"]), ("にほん日は".into(), false));
    }
}

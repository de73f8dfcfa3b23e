//! Sentiment without a model: a lexicon scorer in the manner of VADER (Hutto & Gilbert, 2014),
//! with our own lexicon tuned for support conversations ("still waiting", "unacceptable",
//! "scam", "lawyer"), negation ("not happy"), intensifiers ("extremely"), dampeners ("a bit"),
//! "but" shifting weight to what follows, capitals and exclamation marks as emphasis, and
//! emoji. The escalation policy (`frontline-escalation`) follows the logged scores over a
//! conversation, so it sees a customer getting angrier, not just one bad message.

use serde::{Deserialize, Serialize};

/// How much an intensifier or dampener moves a word's valence (VADER's published constant).
const BOOST: f32 = 0.293;
/// Extra emphasis for a word in capitals inside a message that is not all capitals.
const CAPS_BOOST: f32 = 0.733;
/// A negated word keeps this share of its valence, with the sign flipped.
const NEGATION: f32 = -0.74;
/// Per exclamation mark (at most four count).
const EXCLAMATION: f32 = 0.292;
/// Normalisation constant: `s / sqrt(s² + ALPHA)` maps a sum of valences into (-1, 1).
const ALPHA: f32 = 15.0;

/// Multi-word expressions, matched before single words (valence on a -4..4 scale).
const PHRASES: &[(&str, f32)] = &[
    ("waste of time", -2.8),
    ("waste of money", -2.8),
    ("fed up", -2.6),
    ("sick of", -2.5),
    ("sick and tired", -3.0),
    ("had enough", -2.4),
    ("still waiting", -1.8),
    ("still haven't", -1.6),
    ("still hasn't", -1.6),
    ("still not", -1.4),
    ("never arrived", -2.0),
    ("never again", -2.4),
    ("no one", -1.0),
    ("nobody", -1.0),
    ("rip off", -3.0),
    ("ripped off", -3.0),
    ("piece of junk", -3.0),
    ("piece of crap", -3.2),
    ("how hard can it be", -2.2),
    ("are you kidding", -2.2),
    ("you've got to be kidding", -2.6),
    ("for the third time", -2.0),
    ("for the last time", -2.0),
    ("over and over", -1.6),
    ("doesn't work", -1.8),
    ("does not work", -1.8),
    ("didn't work", -1.8),
    ("not working", -1.8),
    ("stopped working", -1.8),
    ("go elsewhere", -2.0),
    ("take my business", -2.4),
    ("cancel everything", -2.0),
    ("thank you", 2.0),
    ("thanks so much", 2.6),
    ("much appreciated", 2.4),
    ("well done", 2.4),
    ("works now", 1.8),
    ("no problem", 1.2),
    ("no worries", 1.4),
    ("all good", 1.6),
    ("made my day", 3.0),
];

/// Single words (valence on a -4..4 scale).
const WORDS: &[(&str, f32)] = &[
    // Anger and frustration.
    ("angry", -2.8),
    ("furious", -3.4),
    ("livid", -3.4),
    ("outraged", -3.3),
    ("mad", -2.3),
    ("annoyed", -2.1),
    ("annoying", -2.1),
    ("irritated", -2.1),
    ("frustrated", -2.4),
    ("frustrating", -2.4),
    ("upset", -2.2),
    ("disappointed", -2.2),
    ("disappointing", -2.2),
    ("unhappy", -2.1),
    ("sad", -1.9),
    ("hate", -2.9),
    ("hated", -2.9),
    ("ridiculous", -2.6),
    ("absurd", -2.4),
    ("unacceptable", -2.9),
    ("outrageous", -2.9),
    ("disgraceful", -3.0),
    ("disgusting", -3.0),
    ("pathetic", -2.9),
    ("useless", -2.6),
    ("worthless", -2.8),
    ("incompetent", -2.9),
    ("terrible", -3.0),
    ("horrible", -3.0),
    ("awful", -2.9),
    ("worst", -3.1),
    ("bad", -2.3),
    ("worse", -2.3),
    ("poor", -1.9),
    ("broken", -1.8),
    ("damaged", -1.8),
    ("defective", -2.0),
    ("faulty", -1.9),
    ("wrong", -1.6),
    ("missing", -1.3),
    ("lost", -1.3),
    ("late", -1.2),
    ("delayed", -1.3),
    ("never", -0.8),
    ("scam", -3.2),
    ("scammed", -3.3),
    ("fraud", -3.1),
    ("stole", -3.0),
    ("stolen", -2.6),
    ("cheated", -3.0),
    ("lied", -2.7),
    ("liar", -3.0),
    ("lawyer", -2.2),
    ("sue", -2.6),
    ("complaint", -1.8),
    ("complain", -1.8),
    ("refuse", -1.2),
    ("ignored", -2.2),
    ("ignoring", -2.2),
    ("rude", -2.6),
    ("joke", -1.6),
    ("nightmare", -3.0),
    ("disaster", -3.0),
    ("mess", -2.0),
    ("problem", -1.3),
    ("problems", -1.3),
    ("issue", -0.8),
    ("fail", -2.2),
    ("failed", -2.2),
    ("failure", -2.4),
    ("sucks", -2.8),
    ("crap", -2.8),
    ("damn", -2.0),
    ("wtf", -3.0),
    ("ugh", -1.8),
    ("seriously", -0.9),
    ("again", -0.6),
    ("forever", -1.0),
    ("waiting", -0.6),
    ("worried", -1.8),
    ("confused", -1.3),
    ("unfortunately", -1.2),
    ("sorry", -0.3),
    // Satisfaction.
    ("thanks", 1.9),
    ("thank", 1.5),
    ("thx", 1.6),
    ("appreciate", 2.2),
    ("appreciated", 2.2),
    ("great", 3.0),
    ("good", 1.9),
    ("nice", 1.8),
    ("fine", 0.8),
    ("ok", 0.6),
    ("okay", 0.6),
    ("excellent", 3.2),
    ("amazing", 3.2),
    ("awesome", 3.1),
    ("fantastic", 3.2),
    ("wonderful", 3.1),
    ("perfect", 2.8),
    ("love", 3.0),
    ("loved", 3.0),
    ("happy", 2.7),
    ("glad", 2.3),
    ("pleased", 2.3),
    ("satisfied", 2.1),
    ("helpful", 2.2),
    ("quick", 1.2),
    ("fast", 1.2),
    ("easy", 1.8),
    ("best", 3.0),
    ("brilliant", 3.0),
    ("superb", 3.1),
    ("lovely", 2.8),
    ("kind", 1.8),
    ("cool", 1.3),
    ("relieved", 1.9),
    ("resolved", 1.6),
    ("solved", 1.7),
    ("fixed", 1.3),
    ("works", 1.0),
    ("please", 0.3),
    // Spanish (the shipped translations): the strong words customers use.
    ("enfadado", -2.4),
    ("enfadada", -2.4),
    ("furioso", -3.3),
    ("furiosa", -3.3),
    ("harto", -2.6),
    ("harta", -2.6),
    ("indignado", -2.8),
    ("indignada", -2.8),
    ("vergüenza", -2.6),
    ("pésimo", -3.0),
    ("pésima", -3.0),
    ("fatal", -2.6),
    ("horrible", -2.9),
    ("desastre", -2.9),
    ("estafa", -3.2),
    ("inútil", -2.6),
    ("inútiles", -2.6),
    ("ridículo", -2.3),
    ("basura", -2.8),
    ("decepcionado", -2.2),
    ("decepcionada", -2.2),
    ("genial", 2.6),
    ("excelente", 3.0),
    ("estupendo", 2.8),
    ("contento", 2.0),
    ("contenta", 2.0),
    // German.
    ("wütend", -3.0),
    ("sauer", -2.3),
    ("verärgert", -2.4),
    ("frechheit", -3.0),
    ("unverschämt", -3.0),
    ("unverschämtheit", -3.0),
    ("katastrophe", -3.0),
    ("katastrophal", -3.0),
    ("schrecklich", -2.9),
    ("furchtbar", -2.9),
    ("miserabel", -3.0),
    ("betrug", -3.2),
    ("nutzlos", -2.6),
    ("lächerlich", -2.3),
    ("enttäuscht", -2.2),
    ("toll", 2.6),
    ("super", 2.4),
    ("prima", 2.4),
    ("klasse", 2.4),
    ("zufrieden", 1.9),
];

/// Words that make the next sentiment word stronger.
const BOOSTERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "incredibly",
    "absolutely",
    "totally",
    "completely",
    "utterly",
    "super",
    "truly",
    "seriously",
    "deeply",
    "highly",
    "most",
    "such",
    "beyond",
    "too",
    "insanely",
];

/// Words that make it weaker.
const DAMPENERS: &[&str] = &[
    "slightly",
    "somewhat",
    "kinda",
    "barely",
    "little",
    "bit",
    "marginally",
    "fairly",
    "rather",
    "partly",
    "almost",
];

/// Words that flip what follows within three words.
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "wasn't",
    "aren't",
    "weren't",
    "won't",
    "wouldn't",
    "can't",
    "cannot",
    "couldn't",
    "shouldn't",
    "haven't",
    "hasn't",
    "hadn't",
    "nothing",
    "nor",
    "without",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "wasnt",
    "cant",
    "wont",
    "nunca",
    "nada",
    "sin",
    "nicht",
    "kein",
    "keine",
    "nie",
    "niemals",
    "ohne",
];

const EMOJI: &[(char, f32)] = &[
    ('😡', -3.2),
    ('🤬', -3.6),
    ('😠', -2.8),
    ('😤', -2.4),
    ('😞', -2.2),
    ('😢', -2.2),
    ('😭', -2.6),
    ('🙄', -1.8),
    ('👎', -2.0),
    ('💩', -2.6),
    ('😒', -1.8),
    ('🙂', 1.4),
    ('😊', 2.2),
    ('😀', 2.2),
    ('😃', 2.4),
    ('😍', 3.0),
    ('❤', 2.8),
    ('👍', 1.8),
    ('🙏', 1.6),
    ('🎉', 2.4),
];

fn valence(word: &str) -> Option<f32> {
    WORDS.iter().find(|(w, _)| *w == word).map(|(_, v)| *v)
}

/// One message's sentiment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// -1.0 (furious) … 0.0 (neutral) … 1.0 (delighted).
    pub compound: f32,
}

impl Sentiment {
    /// Below this, a message is negative.
    pub const NEGATIVE: f32 = -0.05;
    /// Above this, positive.
    pub const POSITIVE: f32 = 0.05;

    /// `negative`, `neutral` or `positive`.
    pub fn label(&self) -> &'static str {
        if self.compound <= Self::NEGATIVE {
            "negative"
        } else if self.compound >= Self::POSITIVE {
            "positive"
        } else {
            "neutral"
        }
    }
}

/// Score one message.
pub fn score(message: &str) -> Sentiment {
    let letters: Vec<char> = message.chars().filter(|c| c.is_alphabetic()).collect();
    let all_caps = !letters.is_empty() && letters.iter().all(|c| c.is_uppercase());
    let raw_words: Vec<&str> = message
        .split(|c: char| c.is_whitespace())
        .map(|w| w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')))
        .filter(|w| !w.is_empty())
        .collect();
    let words: Vec<String> = raw_words
        .iter()
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect();

    let mut valences: Vec<f32> = vec![0.0; words.len()];
    // Phrases first; the words they cover are not scored again.
    let mut covered = vec![false; words.len()];
    for (phrase, v) in PHRASES {
        let parts: Vec<&str> = phrase.split(' ').collect();
        if parts.len() > words.len() {
            continue;
        }
        for start in 0..=words.len() - parts.len() {
            if covered[start..start + parts.len()].iter().any(|c| *c) {
                continue;
            }
            if parts.iter().zip(&words[start..]).all(|(p, w)| p == w) {
                valences[start] = *v;
                for c in &mut covered[start..start + parts.len()] {
                    *c = true;
                }
            }
        }
    }
    for (i, word) in words.iter().enumerate() {
        if covered[i] && valences[i] == 0.0 {
            continue;
        }
        let mut v = if covered[i] {
            valences[i]
        } else {
            match valence(word) {
                Some(v) => v,
                None => continue,
            }
        };
        // A booster or negation word that is itself in the lexicon only counts as such.
        if BOOSTERS.contains(&word.as_str())
            && i + 1 < words.len()
            && valence(&words[i + 1]).is_some()
        {
            continue;
        }
        if !all_caps
            && raw_words[i].chars().filter(|c| c.is_alphabetic()).count() > 1
            && raw_words[i]
                .chars()
                .all(|c| !c.is_alphabetic() || c.is_uppercase())
        {
            v += CAPS_BOOST * v.signum();
        }
        for back in 1..=3.min(i) {
            let before = words[i - back].as_str();
            let weight = [1.0, 0.95, 0.9][back - 1];
            if BOOSTERS.contains(&before) {
                v += BOOST * weight * v.signum();
            } else if DAMPENERS.contains(&before) {
                v -= BOOST * weight * v.signum();
            }
        }
        let negated = (1..=3.min(i)).any(|back| NEGATIONS.contains(&words[i - back].as_str()));
        // "never" in the lexicon, and "no one"/"nobody" as phrases, are negative on their own.
        if negated && !(word == "never" && i > 0 && words[i - 1] == "never") {
            v *= NEGATION;
        }
        valences[i] = v;
    }
    // "but": what follows counts more than what came before.
    if let Some(at) = words.iter().position(|w| w == "but") {
        for (i, v) in valences.iter_mut().enumerate() {
            *v *= if i < at { 0.5 } else { 1.5 };
        }
    }
    let mut sum: f32 = valences.iter().sum();
    sum += message
        .chars()
        .filter_map(|c| EMOJI.iter().find(|(e, _)| *e == c).map(|(_, v)| *v))
        .sum::<f32>();
    if sum != 0.0 {
        let bangs = message.chars().filter(|c| *c == '!').count().min(4) as f32;
        let questions = message.chars().filter(|c| *c == '?').count();
        let mut emphasis = bangs * EXCLAMATION;
        if questions > 1 {
            emphasis += (questions.min(3) as f32) * 0.18;
        }
        sum += emphasis * sum.signum();
        if all_caps && letters.len() > 3 {
            sum += CAPS_BOOST * sum.signum();
        }
    }
    Sentiment {
        compound: (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(message: &str) -> f32 {
        score(message).compound
    }

    #[test]
    fn polarity_and_strength() {
        assert!(c("Thank you so much, that was really helpful!") > 0.6);
        assert!(c("This is unacceptable, I am furious") < -0.6);
        assert_eq!(c("Where is my order #W1234567?"), 0.0);
        assert!(c("terrible") < 0.0 && c("really terrible") < c("terrible"));
        assert!(c("TERRIBLE service") < c("terrible service"));
        assert!(c("terrible service!!!") < c("terrible service"));
        assert!(c("a bit annoying") > c("annoying"));
    }

    #[test]
    fn negation_and_but() {
        assert!(c("I am not happy") < 0.0);
        assert!(c("not bad at all") > 0.0);
        assert!(c("The shoes are nice but the delivery was awful") < 0.0);
        assert!(c("It was late, but you fixed it, thanks") > 0.0);
    }

    #[test]
    fn phrases_and_emoji() {
        assert!(c("I'm sick and tired of this") < -0.5);
        assert!(c("still waiting for my refund") < 0.0);
        assert!(c("ok 😡") < 0.0);
        assert!(c("👍") > 0.0);
    }
}

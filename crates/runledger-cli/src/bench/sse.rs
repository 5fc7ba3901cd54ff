//! A small Server-Sent Events reader for the stream bench: it only needs
//! each event's `data:`, so it keeps no `event:`/`id:` fields and copies
//! nothing but the bytes of an unfinished line. One per subscriber; a
//! thousand of them must stay cheap.
//!
//! Framing per the HTML living standard: lines end with `\n`, `\r\n` or
//! `\r` (the server sends `\n`; a lone `\r` is read as a line end too), a
//! blank line dispatches the event, lines starting with `:` are comments
//! (keep-alives), one space after `data:` is dropped, and several `data:`
//! lines of one event are joined with `\n`.

/// Longest line kept while waiting for its end: a bigger event is cut
/// here, which makes its JSON invalid and so counts as an error.
pub const SSE_LINE_BYTES_MAX: usize = 1024 * 1024;

/// The reader's state between chunks.
#[derive(Debug, Default)]
pub struct SseReader {
    /// The bytes of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The `data:` of the event being read.
    data: Vec<u8>,
    /// Whether the event being read has a `data:` line.
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` opening the next one ends
    /// no new line.
    after_cr: bool,
}

impl SseReader {
    /// A reader at the start of a stream.
    pub fn new() -> SseReader {
        SseReader::default()
    }

    /// Reads `chunk` and calls `on_data` with the `data:` of every event
    /// it completes, in order.
    pub fn push(&mut self, mut chunk: &[u8], mut on_data: impl FnMut(&[u8])) {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(end) = chunk
            .iter()
            .position(|byte| *byte == b'\n' || *byte == b'\r')
        {
            let crlf = chunk[end] == b'\r' && chunk.get(end + 1) == Some(&b'\n');
            if chunk[end] == b'\r' && end + 1 == chunk.len() {
                self.after_cr = true;
            }
            if self.partial.is_empty() {
                self.line(&chunk[..end], &mut on_data);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.line(&line, &mut on_data);
                line.clear();
                self.partial = line;
            }
            chunk = &chunk[end + if crlf { 2 } else { 1 }..];
        }
        let room = SSE_LINE_BYTES_MAX.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn line(&mut self, line: &[u8], on_data: &mut impl FnMut(&[u8])) {
        if line.is_empty() {
            if self.has_data {
                on_data(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        let Some(value) = line.strip_prefix(b"data:") else {
            return; // `event:`, `id:`, `retry:`, comments: not needed here
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]]) -> Vec<String> {
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        for chunk in chunks {
            reader.push(chunk, |data| {
                events.push(String::from_utf8(data.to_vec()).expect("utf-8"))
            });
        }
        events
    }

    #[test]
    fn reads_events_split_anywhere_and_skips_comments() {
        let stream: &[u8] =
            b":keep-alive\n\nid: 7\nevent: progress\ndata: {\"position\":7}\n\ndata:x\ndata: y\n\n";
        let whole = read(&[stream]);
        assert_eq!(
            whole,
            vec!["{\"position\":7}".to_owned(), "x\ny".to_owned()]
        );
        for split in 0..stream.len() {
            assert_eq!(
                read(&[&stream[..split], &stream[split..]]),
                whole,
                "{split}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(read(&bytes), whole);
    }

    #[test]
    fn crlf_and_cr_end_lines_even_across_chunks() {
        assert_eq!(read(&[b"data: a\r\n\r\ndata: b\r\r"]), vec!["a", "b"]);
        assert_eq!(read(&[b"data: a\r", b"\n\r", b"\n"]), vec!["a"]);
    }

    #[test]
    fn an_event_without_its_blank_line_is_not_dispatched() {
        assert!(read(&[b"data: a\n"]).is_empty());
        assert!(read(&[b"id: 3\n\n"]).is_empty());
    }
}

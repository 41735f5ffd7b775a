//! A writer for the "newc" cpio format Linux unpacks as an initramfs.

pub struct Cpio {
    data: Vec<u8>,
    ino: u32,
}

impl Cpio {
    pub fn new() -> Self {
        Cpio { data: Vec::new(), ino: 1 }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[]);
    }

    pub fn file(&mut self, name: &str, mode: u32, contents: &[u8]) {
        self.entry(name, 0o100000 | mode, contents);
    }

    fn entry(&mut self, name: &str, mode: u32, contents: &[u8]) {
        let fields = [self.ino, mode, 0, 0, 1, 0, contents.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        self.ino += 1;
        self.data.extend_from_slice(b"070701");
        for f in fields {
            self.data.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(contents);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::Cpio;

    /// One parsed newc entry: name, mode, size, contents.
    type Entry = (String, u32, usize, Vec<u8>);

    /// Reads an archive back the way the kernel does, checking every header and the padding.
    fn parse(mut data: &[u8]) -> Vec<Entry> {
        let pad = |n: usize| n.next_multiple_of(4);
        let mut entries = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(offset % 4, 0);
            assert_eq!(&data[..6], b"070701", "magic at offset {offset}");
            let field = |i: usize| {
                let hex = std::str::from_utf8(&data[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(hex, 16).unwrap()
            };
            let (mode, size, name_len) = (field(1), field(6) as usize, field(11) as usize);
            assert_eq!(field(4), 1, "nlink");
            let name = &data[110..110 + name_len];
            assert_eq!(name.last(), Some(&0), "name is NUL-terminated");
            let name = String::from_utf8(name[..name_len - 1].to_vec()).unwrap();
            let start = pad(110 + name_len);
            assert!(data[110 + name_len..start].iter().all(|&b| b == 0));
            let contents = data[start..start + size].to_vec();
            let end = pad(start + size);
            assert!(data[start + size..end].iter().all(|&b| b == 0));
            let last = name == "TRAILER!!!";
            entries.push((name, mode, size, contents));
            data = &data[end..];
            offset += end;
            if last {
                assert!(data.is_empty(), "nothing after the trailer");
                return entries;
            }
        }
    }

    #[test]
    fn archive_reads_back() {
        let mut c = Cpio::new();
        c.dir("bin");
        c.file("bin/tool", 0o755, b"12345");
        c.file("init", 0o644, b"");
        c.file("a-longer-name.txt", 0o600, &[7; 9]);
        let data = c.finish();
        assert_eq!(data.len() % 4, 0);
        let entries = parse(&data);
        let summary: Vec<(&str, u32, usize)> = entries.iter().map(|(n, m, s, _)| (n.as_str(), *m, *s)).collect();
        assert_eq!(
            summary,
            [
                ("bin", 0o040755, 0),
                ("bin/tool", 0o100755, 5),
                ("init", 0o100644, 0),
                ("a-longer-name.txt", 0o100600, 9),
                ("TRAILER!!!", 0, 0),
            ]
        );
        assert_eq!(entries[1].3, b"12345");
        assert_eq!(entries[3].3, [7; 9]);
    }

    #[test]
    fn inode_numbers_are_distinct() {
        let mut c = Cpio::new();
        c.dir("d");
        c.file("f", 0o644, b"x");
        let data = c.finish();
        // The first field after the magic of each of the three headers.
        let inodes: Vec<&[u8]> = data.windows(14).filter(|w| w.starts_with(b"070701")).map(|w| &w[6..]).collect();
        assert_eq!(inodes, [b"00000001", b"00000002", b"00000003"]);
    }
}

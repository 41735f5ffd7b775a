//! Over the samples in `testdata/disk/entries/`: a `grub.cfg` laid out as Debian 12's
//! `grub-mkconfig` writes it, a Fedora 40 BLS entry set, and an `extlinux.conf` as Debian's
//! `u-boot-update` writes it.

use super::*;
use core::cmp::Ordering;
use std::string::String;
use std::vec::Vec;

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/disk/entries").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cmdline(e: &Entry<'_>) -> String {
    let mut buf = [0u8; 512];
    let len = e.cmdline(&mut buf).unwrap();
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

fn s(t: &Text<'_>) -> String {
    String::from_utf8(t.bytes().collect()).unwrap()
}

const UUID: &str = "3d0e5c7a-8f5b-4a3c-9a61-2b7c1e0f4d21";

// ---- the version comparison ----

fn vcmp(a: &str, b: &str) -> Ordering {
    bls::version_cmp(a.as_bytes(), b.as_bytes())
}

#[test]
fn version_comparison_follows_the_specification_examples() {
    use Ordering::*;
    let cases = [
        ("11", "11", Equal),
        ("systemd-123", "systemd-123", Equal),
        ("bar-123", "foo-123", Less),
        ("123a", "123", Greater),
        ("123.a", "123", Greater),
        ("123.a", "123.b", Less),
        ("123a", "123.a", Greater),
        ("11α", "11β", Equal),
        ("A", "a", Less),
        ("", "0", Less),
        ("0.", "0", Greater),
        ("0.0", "0", Greater),
        ("", "~", Less),
        ("1_", "1", Equal),
        ("_1", "1", Equal),
        ("1_", "1.2", Less),
        ("1_2_3", "1.3.3", Greater),
        ("1+", "1", Equal),
        ("+1", "1", Equal),
        ("1+", "1.2", Less),
        ("1+2+3", "1.3.3", Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(vcmp(a, b), want, "{a} vs {b}");
        assert_eq!(vcmp(b, a), want.reverse(), "{b} vs {a}");
    }
}

/// Where the specification's text and systemd (`systemd-analyze compare-versions`, which
/// systemd-boot shares) disagree, systemd's order: its examples list `0` < `~` although its
/// steps put the string with `~` lower, and it says `^` sorts higher where systemd sorts it
/// lower than the other separators (still higher than the end of the string).
#[test]
fn version_comparison_follows_systemd_where_the_specification_text_differs() {
    assert_eq!(vcmp("0", "~"), Ordering::Greater);
    assert_eq!(vcmp("1^", "1"), Ordering::Greater);
    assert_eq!(vcmp("1^", "1.1"), Ordering::Less);
    assert_eq!(vcmp("1.0^", "1.0.1"), Ordering::Less);
    assert_eq!(vcmp("1^", "1~"), Ordering::Greater);
}

#[test]
fn version_comparison_orders_kernels() {
    use Ordering::*;
    let cases = [
        ("6.1.0-18-amd64", "6.1.0-9-amd64", Greater),
        ("6.10.12-200.fc40.x86_64", "6.9.7-200.fc40.x86_64", Greater),
        ("6.1.0-rc1", "6.1.0", Greater),
        ("6.1~rc1", "6.1", Less),
        ("1.05", "1.5", Equal),
        ("1-1", "1.1", Less),
        ("1.", "1-", Greater),
        ("a", "1", Less),
        ("1a", "1-", Greater),
        ("99999999999999999999999", "99999999999999999999998", Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(vcmp(a, b), want, "{a} vs {b}");
        assert_eq!(vcmp(b, a), want.reverse(), "{b} vs {a}");
    }
}

#[test]
fn globs_match_as_systemd_boot_defaults_do() {
    let yes = [
        ("debian-*", "debian-6.1.0"),
        ("*", ""),
        ("*.conf", "a.conf"),
        ("fedora-?.*", "FEDORA-6.9"),
        ("[a-c]x*", "bxy"),
        ("[!a]x", "bx"),
        ("*a*b*c", "xxaxxbxxc"),
    ];
    let no = [("debian-*", "fedora-1"), ("[!a]x", "ax"), ("a?", "a"), ("*a*b*c", "cba"), ("[a", "a")];
    for (p, n) in yes {
        assert!(bls::glob(p.as_bytes(), n.as_bytes()), "{p} {n}");
    }
    for (p, n) in no {
        assert!(!bls::glob(p.as_bytes(), n.as_bytes()), "{p} {n}");
    }
}

// ---- BLS ----

fn fedora() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/disk/entries/fedora");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap())
        .map(|f| (f.file_name().into_string().unwrap(), std::fs::read(f.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn bls_select(files: &[(String, Vec<u8>)], conf: Option<&str>, wanted: Option<&str>) -> Result<String, EntryError> {
    let files = files.iter().map(|(n, t)| (n.as_bytes(), &t[..]));
    let e = bls::select(files, conf.map(str::as_bytes), wanted.map(str::as_bytes))?;
    Ok(String::from_utf8(e.id.to_vec()).unwrap())
}

const MID: &str = "5c2a8e1f0b9d4e7a8c6b3f2d1e0a9b8c";

#[test]
fn bls_picks_the_newest_fedora_kernel() {
    let files = fedora();
    let pairs = files.iter().map(|(n, t)| (n.as_bytes(), &t[..]));
    let e = bls::select(pairs, None, None).unwrap();
    assert_eq!(e.id, std::format!("{MID}-6.10.12-200.fc40.x86_64").as_bytes());
    assert_eq!(e.version, b"6.10.12-200.fc40.x86_64");
    assert_eq!(s(&e.kernel), "/vmlinuz-6.10.12-200.fc40.x86_64");
    assert_eq!(e.initrds().len(), 1);
    assert_eq!(s(&e.initrds()[0]), "/initramfs-6.10.12-200.fc40.x86_64.img");
    assert_eq!(cmdline(&e), std::format!("root=UUID={UUID} ro rootflags=subvol=root rhgb quiet"));
    assert_eq!(s(&e.title), "Fedora Linux (6.10.12-200.fc40.x86_64) 40 (Workstation Edition)");
}

#[test]
fn bls_default_globs_and_overrides() {
    let files = fedora();
    let id = |v: &str| std::format!("{MID}-{v}");
    let conf = |d: &str| std::format!("timeout 3\ndefault {d}\nconsole-mode max\n");
    assert_eq!(bls_select(&files, Some(&conf("*6.9.7*")), None).unwrap(), id("6.9.7-200.fc40.x86_64"));
    // Several match: the first in menu order (the newest).
    assert_eq!(
        bls_select(&files, Some(&conf(&std::format!("{MID}-6.*"))), None).unwrap(),
        id("6.10.12-200.fc40.x86_64")
    );
    // With `.conf`, as bootctl shows ids.
    let rescue = std::format!("{MID}-0-rescue.conf");
    assert_eq!(bls_select(&files, Some(&conf(&rescue)), None).unwrap(), id("0-rescue"));
    // Nothing matches, or an EFI variable: the first in menu order.
    assert_eq!(bls_select(&files, Some(&conf("nope-*")), None).unwrap(), id("6.10.12-200.fc40.x86_64"));
    assert_eq!(bls_select(&files, Some(&conf("@saved")), None).unwrap(), id("6.10.12-200.fc40.x86_64"));
    // Overrides: by id (with or without .conf) or title; an unknown one is an error.
    assert_eq!(
        bls_select(&files, Some(&conf("*6.9.7*")), Some(&id("6.8.9-300.fc40.x86_64"))).unwrap(),
        id("6.8.9-300.fc40.x86_64")
    );
    assert_eq!(bls_select(&files, None, Some(&rescue)).unwrap(), id("0-rescue"));
    let title = "Fedora Linux (6.9.7-200.fc40.x86_64) 40 (Workstation Edition)";
    assert_eq!(bls_select(&files, None, Some(title)).unwrap(), id("6.9.7-200.fc40.x86_64"));
    assert_eq!(bls_select(&files, None, Some("nope")), Err(EntryError::DefaultNotFound));
    assert_eq!(bls_select(&[], None, None), Err(EntryError::NoEntries));
}

fn entry_file(name: &str, body: &str) -> (String, Vec<u8>) {
    (String::from(name), std::format!("linux /vmlinuz\n{body}").into_bytes())
}

#[test]
fn bls_orders_by_sort_key_machine_id_and_version() {
    let files = [
        entry_file("a-10.conf", "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f\n"),
        entry_file("a-5.conf", "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f\n"),
        entry_file("b.conf", "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd\n"),
        entry_file("c.conf", "title C\nsort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176\n"),
        entry_file("cx.conf", "title C\nsort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176\n"),
        entry_file("d.conf", "title D\nsort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292\n"),
    ];
    let parsed: Vec<Entry<'_>> = files.iter().map(|(n, t)| bls::parse(n.as_bytes(), t).unwrap().unwrap()).collect();
    let mut order: Vec<&Entry<'_>> = parsed.iter().collect();
    order.sort_by(|a, b| bls::menu_order(a, b));
    let ids: Vec<&[u8]> = order.iter().map(|e| e.id).collect();
    assert_eq!(ids, [&b"d"[..], b"cx", b"c", b"b", b"a-10", b"a-5"]);
    assert_eq!(bls_select(&files, None, None).unwrap(), "d");
}

#[test]
fn bls_skips_foreign_entries_and_counts_boots() {
    let files = [
        entry_file("z-arm.conf", "architecture aa64\n"),
        (String::from("z-efi.conf"), b"title EFI shell\nefi /shell.efi\n".to_vec()),
        entry_file("y-1+0-3.conf", "options bad\n"),
        entry_file("x-1+2-1.conf", "architecture X64\noptions one\noptions  two\n\ninitrd /a\ninitrd /b\n"),
    ];
    let pairs = files.iter().map(|(n, t)| (n.as_bytes(), &t[..]));
    let e = bls::select(pairs, None, None).unwrap();
    assert_eq!(e.id, b"x-1");
    assert_eq!(cmdline(&e), "one two");
    assert_eq!(e.initrds().iter().map(s).collect::<Vec<_>>(), ["/a", "/b"]);
    // The bad one still boots when it is all there is.
    assert_eq!(bls_select(&files[..3], None, None).unwrap(), "y-1");
    let five = entry_file("f.conf", "initrd 1\ninitrd 2\ninitrd 3\ninitrd 4\ninitrd 5\n");
    assert_eq!(bls::parse(b"f.conf", &five.1), Err(EntryError::TooMany { what: "initrds in an entry" }));
}

#[test]
fn cmdline_reports_a_small_buffer() {
    let files = fedora();
    let pairs = files.iter().map(|(n, t)| (n.as_bytes(), &t[..]));
    let e = bls::select(pairs, None, None).unwrap();
    assert_eq!(e.cmdline(&mut [0u8; 20]), Err(EntryError::TooLong));
}

// ---- extlinux ----

#[test]
fn extlinux_default_label_and_overrides() {
    let text = sample("extlinux.conf");
    let e = extlinux::select(&text, None).unwrap();
    assert_eq!(e.id, b"l0");
    assert_eq!(s(&e.title), "Debian GNU/Linux trixie/sid 6.1.0-18-amd64");
    assert_eq!(s(&e.kernel), "/boot/vmlinuz-6.1.0-18-amd64");
    assert_eq!(e.initrds().iter().map(s).collect::<Vec<_>>(), ["/boot/initrd.img-6.1.0-18-amd64"]);
    assert_eq!(cmdline(&e), "root=/dev/vda1 ro quiet");
    let rescue = extlinux::select(&text, Some(b"l0r")).unwrap();
    assert_eq!(cmdline(&rescue), "root=/dev/vda1 ro single");
    let by_title = b"Debian GNU/Linux trixie/sid 6.1.0-18-amd64 (rescue target)";
    assert_eq!(extlinux::select(&text, Some(by_title)).unwrap().id, b"l0r");
    assert_eq!(extlinux::select(&text, Some(b"l1")), Err(EntryError::DefaultNotFound));
}

#[test]
fn extlinux_keywords_ignore_case() {
    let text = b"PROMPT 1\nTIMEOUT 30\nMENU TITLE Boot\n\nLABEL local\n  LOCALBOOT 0\nLABEL linux\n  KERNEL /vmlinuz\n  INITRD /ucode.img, /initrd.img\n  APPEND console=ttyS0\nLabel other\n  Linux /other\n  Menu Default\n";
    let e = extlinux::select(text, None).unwrap();
    assert_eq!(e.id, b"other");
    assert_eq!(s(&e.kernel), "/other");
    let first = b"label local\n localboot 0\nlabel linux\n linux /vmlinuz\n initrd /ucode.img,/initrd.img\n";
    let e = extlinux::select(first, None).unwrap();
    assert_eq!(e.id, b"linux");
    assert_eq!(e.initrds().iter().map(s).collect::<Vec<_>>(), ["/ucode.img", "/initrd.img"]);
    assert_eq!(extlinux::select(text, Some(b"linux")).map(|e| cmdline(&e)), Ok(String::from("console=ttyS0")));
    assert_eq!(
        extlinux::select(text, Some(b"local")),
        Err(EntryError::Unsupported { what: "extlinux entry without LINUX or KERNEL" })
    );
    assert_eq!(extlinux::select(b"timeout 1\n", None), Err(EntryError::NoEntries));
    assert_eq!(
        extlinux::select(b"include other.conf\n", None),
        Err(EntryError::Unsupported { what: "extlinux INCLUDE" })
    );
}

// ---- GRUB ----

fn grub<'a>(text: &'a [u8], wanted: Option<&str>) -> Result<Entry<'a>, EntryError> {
    grub::select(text, wanted.map(str::as_bytes))
}

#[test]
fn grub_default_zero_is_the_simple_entry() {
    let text = sample("debian12-grub.cfg");
    let e = grub(&text, None).unwrap();
    assert_eq!(s(&e.title), "Debian GNU/Linux");
    assert_eq!(e.id, std::format!("gnulinux-simple-{UUID}").as_bytes());
    assert_eq!(s(&e.kernel), "/boot/vmlinuz-6.1.0-18-amd64");
    assert_eq!(e.initrds().iter().map(s).collect::<Vec<_>>(), ["/boot/initrd.img-6.1.0-18-amd64"]);
    assert_eq!(cmdline(&e), std::format!("root=UUID={UUID} ro quiet"));
    assert_eq!(e.root_uuid.map(|u| s(&u)), Some(String::from(UUID)));
    assert_eq!(e.root_hint.map(|h| s(&h)), Some(String::from("hd0,gpt2")));
}

#[test]
fn grub_submenu_paths_titles_and_ids() {
    let text = sample("debian12-grub.cfg");
    let title = |w: &str| grub(&text, Some(w)).map(|e| s(&e.title));
    assert_eq!(title("1>1").unwrap(), "Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)");
    assert_eq!(title("1>2").unwrap(), "Debian GNU/Linux, with Linux 6.1.0-17-amd64");
    let by_title = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64 (recovery mode)";
    assert_eq!(title(by_title).unwrap(), "Debian GNU/Linux, with Linux 6.1.0-17-amd64 (recovery mode)");
    let by_id = std::format!("gnulinux-advanced-{UUID}>gnulinux-6.1.0-17-amd64-advanced-{UUID}");
    assert_eq!(title(&by_id).unwrap(), "Debian GNU/Linux, with Linux 6.1.0-17-amd64");
    let recovery = grub(&text, Some("1>3")).unwrap();
    assert_eq!(cmdline(&recovery), std::format!("root=UUID={UUID} ro single"));
    assert_eq!(title("Debian GNU/Linux").unwrap(), "Debian GNU/Linux");
    assert_eq!(title("1>4"), Err(EntryError::DefaultNotFound));
    assert_eq!(title("3"), Err(EntryError::DefaultNotFound));
    assert_eq!(title("0>1"), Err(EntryError::DefaultNotFound));
    assert_eq!(title("1"), Err(EntryError::Unsupported { what: "GRUB default naming a submenu" }));
    // The firmware-settings entry exists only on EFI: counting up to it is a guess.
    assert_eq!(title("2"), Err(EntryError::Unsupported { what: "GRUB menu entries inside an if block" }));
    assert_eq!(title("uefi-firmware"), Err(EntryError::Unsupported { what: "GRUB menu entries inside an if block" }));
}

fn with_default(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let t = std::str::from_utf8(text).unwrap();
    assert!(t.contains(from));
    t.replacen(from, to, 1).into_bytes()
}

#[test]
fn grub_set_default_forms() {
    let text = sample("debian12-grub.cfg");
    let title = |t: &[u8]| grub(t, None).map(|e| s(&e.title));
    let saved = with_default(&text, "set default=\"0\"", "set default=\"${saved_entry}\"");
    assert_eq!(title(&saved).unwrap(), "Debian GNU/Linux");
    let path = with_default(&text, "set default=\"0\"", "set default=\"1>2\"");
    assert_eq!(title(&path).unwrap(), "Debian GNU/Linux, with Linux 6.1.0-17-amd64");
    let quoted = with_default(&text, "set default=\"0\"", "set default='Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)'");
    assert_eq!(title(&quoted).unwrap(), "Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)");
    let variable = with_default(&text, "set default=\"0\"", "set default=\"${my_default}\"");
    assert_eq!(title(&variable), Err(EntryError::Unsupported { what: "GRUB default set from a variable" }));
    let missing = with_default(&text, "set default=\"0\"", "set default=\"7\"");
    assert_eq!(title(&missing), Err(EntryError::DefaultNotFound));
}

#[test]
fn grub_quoting_and_odd_layouts() {
    let text = br#"set default=1
menuentry "first" { linux /a; }
# menuentry 'commented' {
menuentry 'it''s \"two\"' --id=two {
    search --no-floppy --fs-uuid --set=root --hint hd0,msdos1 1234-ABCD
    linux /boot/vmlinuz\ x "root=/dev/sda1 quiet" a\ b   'c  d' $vt_handoff
    initrd /boot/ucode.img /boot/initrd.img
}
"#;
    let e = grub(text, None).unwrap();
    assert_eq!(s(&e.title), r#"its \"two\""#);
    assert_eq!(e.id, b"two");
    assert_eq!(s(&e.kernel), "/boot/vmlinuz x");
    assert_eq!(cmdline(&e), "root=/dev/sda1 quiet a b c  d $vt_handoff");
    assert_eq!(e.initrds().iter().map(s).collect::<Vec<_>>(), ["/boot/ucode.img", "/boot/initrd.img"]);
    assert_eq!(e.root_uuid.map(|u| s(&u)), Some(String::from("1234-ABCD")));
    assert_eq!(grub(text, Some("0")).map(|e| s(&e.kernel)), Ok(String::from("/a")));
    assert_eq!(grub(text, Some("two")).map(|e| e.id), Ok(&b"two"[..]));
}

#[test]
fn grub_errors_are_named() {
    let unsupported = |what| Err(EntryError::Unsupported { what });
    assert_eq!(grub(b"set timeout=5\n", None).map(|_| ()), Err(EntryError::NoEntries));
    assert_eq!(grub(b"menuentry a {\n echo\n}\n", None).map(|_| ()), unsupported("GRUB entry without a linux command"));
    assert_eq!(
        grub(b"menuentry a {\n linux /a\n", None).map(|_| ()),
        unsupported("GRUB menuentry without its closing brace")
    );
    assert_eq!(grub(b"}\nmenuentry a { linux /a; }", None).map(|_| ()), unsupported("unbalanced GRUB blocks"));
    let two = b"menuentry a {\n linux /a\n linux /b\n}\n";
    assert_eq!(grub(two, None).map(|_| ()), unsupported("several linux commands in a GRUB entry"));
    let roots = b"menuentry a {\n search --fs-uuid --set=root A\n search --fs-uuid --set=root B\n linux /a\n}\n";
    assert_eq!(grub(roots, None).map(|_| ()), unsupported("GRUB entry searching for two roots"));
    let label = b"menuentry a {\n search --label --set=root boot\n linux /a\n}\n";
    assert_eq!(grub(label, None).map(|_| ()), unsupported("GRUB search for root by file or label"));
    let initrds = b"menuentry a {\n linux /a\n initrd 1 2 3 4 5\n}\n";
    assert_eq!(grub(initrds, None).map(|_| ()), Err(EntryError::TooMany { what: "initrds in an entry" }));
    let deep = "if x; then\n".repeat(20);
    assert_eq!(grub(deep.as_bytes(), None).map(|_| ()), Err(EntryError::TooMany { what: "nested GRUB blocks" }));
}

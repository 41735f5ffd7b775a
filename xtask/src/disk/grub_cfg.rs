//! A `/boot/grub/grub.cfg` in the shape Debian 12's `grub-mkconfig` gives it for a GPT disk
//! with /boot on an ext4 root (scripts `00_header`, `05_debian_theme`, `10_linux`, the empty
//! os-prober and custom sections): the `next_entry` dance around `set default="0"`, `insmod`
//! and `search --fs-uuid` ahead of every use of the disk, a simple `menuentry`, and an
//! `Advanced options` `submenu` with the kernel's normal and recovery entries. Written from the
//! structure of those scripts' output (not copied), with tabs where they put tabs. The kernel
//! arguments stand for `GRUB_CMDLINE_LINUX="console=ttyS0 panic=-1 pvhfw.from=grub"` and
//! Debian's `GRUB_CMDLINE_LINUX_DEFAULT="quiet"`.

use super::layouts::CONSOLE;

/// `GRUB_CMDLINE_LINUX`, with the marker that tells grub.cfg's entries from the /vmlinuz links.
fn cmdline_linux() -> String {
    format!("{CONSOLE} pvhfw.from=grub")
}

/// The command line of the default entry (`10_linux`: `root=... ro`, then
/// `GRUB_CMDLINE_LINUX` and `GRUB_CMDLINE_LINUX_DEFAULT`).
pub fn default_cmdline(uuid: &str) -> String {
    format!("root=UUID={uuid} ro {} quiet", cmdline_linux())
}

/// The recovery entry's (`single` before `GRUB_CMDLINE_LINUX`, no default arguments).
pub fn recovery_cmdline(uuid: &str) -> String {
    format!("root=UUID={uuid} ro single {}", cmdline_linux())
}

/// What `GRUB_DEFAULT` (and `opt/org.pvhfw/entry`) names the recovery entry by: the submenu's
/// id, `>`, the entry's id.
pub fn recovery_path(version: &str, uuid: &str) -> String {
    format!("gnulinux-advanced-{uuid}>gnulinux-{version}-recovery-{uuid}")
}

/// The lines that make GRUB find the root filesystem, indented by `indent`.
fn prepare_root(indent: &str, uuid: &str) -> String {
    format!("{indent}insmod part_gpt\n{indent}insmod ext2\n{indent}search --no-floppy --fs-uuid --set=root {uuid}\n")
}

/// The whole file for kernel `version` on the filesystem `uuid`.
pub fn debian(version: &str, uuid: &str) -> String {
    [header(uuid), theme(uuid), linux(version, uuid), trailer()].concat()
}

fn header(uuid: &str) -> String {
    let mut s = String::from(
        "#\n# Generated for the pvhfw tests in the shape of Debian 12's grub-mkconfig output.\n#\n\n\
         ### BEGIN /etc/grub.d/00_header ###\n\
         if [ -s $prefix/grubenv ]; then\n  set have_grubenv=true\n  load_env\nfi\n\
         if [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\n   set boot_once=true\nelse\n   set default=\"0\"\nfi\n\n\
         if [ x\"${feature_menuentry_id}\" = xy ]; then\n  menuentry_id_option=\"--id\"\nelse\n  menuentry_id_option=\"\"\nfi\n\n\
         export menuentry_id_option\n\n\
         if [ \"${prev_saved_entry}\" ]; then\n  set saved_entry=\"${prev_saved_entry}\"\n  save_env saved_entry\n  set prev_saved_entry=\n  save_env prev_saved_entry\n  set boot_once=true\nfi\n\n\
         function savedefault {\n  if [ -z \"${boot_once}\" ]; then\n    saved_entry=\"${chosen}\"\n    save_env saved_entry\n  fi\n}\n\
         function load_video {\n  if [ x$feature_all_video_module = xy ]; then\n    insmod all_video\n  else\n    insmod efi_gop\n    insmod vbe\n    insmod vga\n    insmod video_bochs\n    insmod video_cirrus\n  fi\n}\n\n\
         if [ x$feature_default_font_path = xy ] ; then\n   font=unicode\nelse\n",
    );
    s += &prepare_root("", uuid);
    s += "    font=\"/usr/share/grub/unicode.pf2\"\nfi\n\n\
          if loadfont $font ; then\n  set gfxmode=auto\n  load_video\n  insmod gfxterm\n  set locale_dir=$prefix/locale\n  set lang=en_US\n  insmod gettext\nfi\n\
          terminal_output gfxterm\n\
          if [ \"${recordfail}\" = 1 ] ; then\n  set timeout=30\nelse\n  if [ x$feature_timeout_style = xy ] ; then\n    set timeout_style=menu\n    set timeout=5\n  else\n    set timeout=5\n  fi\nfi\n\
          ### END /etc/grub.d/00_header ###\n\n";
    s
}

fn theme(uuid: &str) -> String {
    String::from("### BEGIN /etc/grub.d/05_debian_theme ###\n")
        + &prepare_root("", uuid)
        + "insmod png\nif background_image /usr/share/desktop-base/emerald-theme/grub/grub-4x3.png; then\n  set color_normal=white/black\n  set color_highlight=black/white\nelse\n  set menu_color_normal=cyan/blue\n  set menu_color_highlight=white/blue\nfi\n\
           ### END /etc/grub.d/05_debian_theme ###\n\n"
}

/// One `menuentry` block (at `indent`) booting `version` with `args`.
fn entry(indent: &str, title: &str, id: &str, version: &str, uuid: &str, args: &str, recovery: bool) -> String {
    let i = format!("{indent}\t");
    let mut s = format!(
        "{indent}menuentry '{title}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option '{id}' {{\n"
    );
    if !recovery {
        s += &format!("{i}load_video\n");
    }
    s += &format!("{i}insmod gzio\n{i}if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi\n");
    s += &prepare_root(&i, uuid);
    s += &format!("{i}echo\t'Loading Linux {version} ...'\n");
    s += &format!("{i}linux\t/boot/vmlinuz-{version} root=UUID={uuid} {args}\n");
    s += &format!("{i}echo\t'Loading initial ramdisk ...'\n{i}initrd\t/boot/initrd.img-{version}\n{indent}}}\n");
    s
}

fn linux(version: &str, uuid: &str) -> String {
    let normal = format!("ro {} quiet", cmdline_linux());
    let single = format!("ro single {}", cmdline_linux());
    let os = "Debian GNU/Linux";
    let mut s = String::from(
        "### BEGIN /etc/grub.d/10_linux ###\nfunction gfxmode {\n\tset gfxpayload=\"${1}\"\n}\nset linux_gfx_mode=\nexport linux_gfx_mode\n",
    );
    s += &entry("", os, &format!("gnulinux-simple-{uuid}"), version, uuid, &normal, false);
    s += &format!("submenu 'Advanced options for {os}' $menuentry_id_option 'gnulinux-advanced-{uuid}' {{\n");
    let title = format!("{os}, with Linux {version}");
    s += &entry("\t", &title, &format!("gnulinux-{version}-advanced-{uuid}"), version, uuid, &normal, false);
    let title = format!("{os}, with Linux {version} (recovery mode)");
    s += &entry("\t", &title, &format!("gnulinux-{version}-recovery-{uuid}"), version, uuid, &single, true);
    s + "}\n\n### END /etc/grub.d/10_linux ###\n\n"
}

fn trailer() -> String {
    ["20_linux_xen", "30_os-prober", "30_uefi-firmware", "40_custom"]
        .iter()
        .map(|s| format!("### BEGIN /etc/grub.d/{s} ###\n### END /etc/grub.d/{s} ###\n\n"))
        .collect::<String>()
        + "### BEGIN /etc/grub.d/41_custom ###\n\
           if [ -f  ${config_directory}/custom.cfg ]; then\n  source ${config_directory}/custom.cfg\n\
           elif [ -z \"${config_directory}\" -a -f  $prefix/custom.cfg ]; then\n  source $prefix/custom.cfg\nfi\n\
           ### END /etc/grub.d/41_custom ###\n"
}

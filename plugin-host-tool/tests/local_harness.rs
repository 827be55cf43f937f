//! `kplug run --local` and `kplug wast --local` in the real silicon harness (kplug-silicon,
//! built with `cargo silicon` by kplug itself when it is missing or stale), in both isolation
//! modes.

mod common;

use common::{expect_clean_wast_run, kplug, wast_suite};

/// crc32.wat's check returns the CRC-32 of "123456789" in both modes, and an out-of-bounds load
/// traps with exit status 3 and the kind in words.
#[test]
fn run_local_returns_and_traps_in_both_modes() {
    let home = tempfile::tempdir().expect("temp dir");
    for mode in ["hardware", "software"] {
        let run = kplug(
            home.path(),
            &[
                "run",
                "--local",
                "--isolation",
                mode,
                "plugins/crc32.wat",
                "check",
            ],
        )
        .expect_code(0, mode);
        assert_eq!(
            run.stdout.lines().next(),
            Some("-873187034 (0xcbf43926)"),
            "{mode}: {}",
            run.stdout
        );
        assert!(
            run.stderr.contains(&format!("({mode} isolation)")),
            "{mode}: {}",
            run.stderr
        );
        let trap = kplug(
            home.path(),
            &[
                "run",
                "--local",
                "--isolation",
                mode,
                "plugins/hostile/oob.wat",
                "load32",
                "65536",
            ],
        )
        .expect_code(3, mode);
        assert!(
            trap.stdout
                .starts_with("trap: out of bounds memory access in function "),
            "{mode}: {}",
            trap.stdout
        );
    }
}

/// The `.wast` suite passes in the harness in hardware and in software isolation.
#[test]
fn wast_suite_passes_in_the_harness() {
    let home = tempfile::tempdir().expect("temp dir");
    let files = wast_suite();
    let mut arguments = vec!["wast", "--local", "--isolation", "both"];
    arguments.extend(files.iter().map(String::as_str));
    expect_clean_wast_run(kplug(home.path(), &arguments), "kplug wast --local");
}

/// A silicon board stopped (by its name, in its private `KPLUG_HOME`) when the test ends.
struct SiliconBoard {
    home: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SiliconBoard {
    /// Starts a silicon board named `si` in a private home under a short temporary path (Unix
    /// socket paths are limited to 108 bytes); returns it with `kplug board up`'s run.
    fn up(prefix: &str) -> (SiliconBoard, common::Run) {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in("/tmp")
            .expect("temp dir");
        let board = SiliconBoard {
            home: dir.path().join("home"),
            _dir: dir,
        };
        let up = kplug(
            &board.home,
            &["board", "up", "--emulator", "silicon", "--name", "si"],
        )
        .expect_code(0, "board up");
        (board, up)
    }

    fn kplug(&self, arguments: &[&str]) -> common::Run {
        let mut full = arguments.to_vec();
        full.extend(["--board", "si"]);
        kplug(&self.home, &full)
    }
}

impl Drop for SiliconBoard {
    fn drop(&mut self) {
        let _ = kplug(&self.home, &["board", "down", "--name", "si"]);
    }
}

/// `kplug board up --emulator silicon` starts the harness as a board that keeps its state from
/// one command to the next: a plugin uploaded by one command is attached by the next, `kplug
/// feed` sends a frame through its chain (the output equals the host's grayscale transcoding),
/// `kplug stream` follows the `samples` ADC, `kplug list` shows the stage's counters, and
/// `kplug board down` stops it.
#[test]
fn a_silicon_board_serves_attach_feed_and_stream() {
    let (board, up) = SiliconBoard::up("ks");
    assert!(up.stdout.contains("isolation hardware"), "{}", up.stdout);
    board
        .kplug(&["upload", "plugins/gray_stage.wat", "--name", "gray"])
        .expect_code(0, "upload");
    board
        .kplug(&["attach", "gray", "gray", "--to", "channel:frames"])
        .expect_code(0, "attach");
    let rgb: Vec<u8> = (0..3000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let input = board.home.join("frame.rgb");
    let output = board.home.join("frame.gray");
    std::fs::write(&input, &rgb).expect("write the frame");
    board
        .kplug(&[
            "feed",
            "frames",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ])
        .expect_code(0, "feed");
    assert_eq!(
        std::fs::read(&output).expect("the output"),
        plugin_format::channel::rgb_to_gray(&rgb)
    );

    let stream = board
        .kplug(&["stream", "samples", "--count", "3", "--json"])
        .expect_code(0, "stream");
    let blocks: Vec<serde_json::Value> = stream
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(blocks.len(), 3, "{}", stream.stdout);
    for block in &blocks {
        assert_eq!(block["channel"], "samples");
        assert_eq!(block["bytes"].as_array().map(Vec::len), Some(32), "{block}");
    }
    let list = board.kplug(&["list"]).expect_code(0, "list");
    assert!(
        list.stdout
            .lines()
            .any(|line| line.contains("gray.gray") && line.contains("channel:frames")),
        "{}",
        list.stdout
    );
    kplug(&board.home, &["board", "down", "--name", "si"]).expect_code(0, "board down");
    board
        .kplug(&["list"])
        .expect_code(1, "no board after board down");
}

/// The camera, PNG output, a GPIO sink and a burst through the `kplug` binary on a silicon
/// board (the core's channels on the real CPU): camera frames through the grayscale stage become
/// 8-bit gray PNGs of the camera's size whose pixels are the camera's frame transcoded on the
/// host; without the stage they are RGB PNGs of the frame itself; a bad size is refused before
/// anything is sent; a burst reports every buffer; a sink on a pin past the last is refused.
#[test]
fn a_silicon_board_streams_camera_frames_as_png() {
    use plugin_host_tool::plugin_format::channel::{CameraSettings, camera_frame_into};

    let (board, _) = SiliconBoard::up("kc");
    board
        .kplug(&["upload", "plugins/gray_stage.wat", "--name", "gray"])
        .expect_code(0, "upload");
    board
        .kplug(&["attach", "gray", "gray", "--to", "channel:frames"])
        .expect_code(0, "attach");
    let refused = board
        .kplug(&["camera", "start", "--size", "200x200"])
        .expect_code(1, "a frame too large");
    assert!(refused.stderr.contains("200x200"), "{}", refused.stderr);
    let started = board
        .kplug(&["camera", "start", "--size", "32x24", "--fps", "50"])
        .expect_code(0, "camera start");
    assert!(
        started.stdout.contains("running: 32x24"),
        "{}",
        started.stdout
    );

    let decode = |path: &std::path::Path| {
        let file = std::fs::File::open(path).unwrap_or_else(|_| panic!("{}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut pixels).expect("a frame");
        pixels.truncate(info.buffer_size());
        (info.width, info.height, info.color_type, pixels)
    };
    let settings = CameraSettings {
        width: 32,
        height: 24,
        fps: 50,
    };
    let camera_frame = |number: u32| {
        let mut frame = Vec::new();
        camera_frame_into(&settings, number, &mut frame);
        frame
    };
    // The frame number is in the file name: gray-N.png.
    let numbered = |stream: &common::Run| -> Vec<(u32, std::path::PathBuf)> {
        stream
            .stderr
            .lines()
            .filter_map(|line| {
                let (frame, path) = line.strip_prefix("frame ")?.split_once(" -> ")?;
                Some((frame.parse().ok()?, path.into()))
            })
            .collect()
    };
    let gray = board.home.join("gray.png");
    let stream = board
        .kplug(&[
            "stream",
            "frames",
            "--count",
            "2",
            "--out",
            gray.to_str().unwrap(),
        ])
        .expect_code(0, "stream gray");
    let files = numbered(&stream);
    assert_eq!(files.len(), 2, "{}", stream.stderr);
    for (number, path) in files {
        let (width, height, color, pixels) = decode(&path);
        assert_eq!((width, height, color), (32, 24, png::ColorType::Grayscale));
        let expected = plugin_format::channel::rgb_to_gray(&camera_frame(number));
        assert_eq!(pixels, expected, "frame {number}");
    }

    board.kplug(&["detach", "1"]).expect_code(0, "detach");
    let raw = board.home.join("raw.png");
    let stream = board
        .kplug(&[
            "stream",
            "frames",
            "--count",
            "1",
            "--out",
            raw.to_str().unwrap(),
        ])
        .expect_code(0, "stream raw");
    let (frame, _) = stream
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("frame ")?.split_once(" -> "))
        .unwrap_or_else(|| panic!("{}", stream.stderr));
    let (width, height, color, pixels) = decode(&raw);
    assert_eq!((width, height, color), (32, 24, png::ColorType::Rgb));
    assert_eq!(pixels, camera_frame(frame.parse().expect("a number")));
    let stopped = board
        .kplug(&["camera", "stop"])
        .expect_code(0, "camera stop");
    assert!(
        stopped.stdout.contains("camera stopped"),
        "{}",
        stopped.stdout
    );

    let burst = board
        .kplug(&["burst", "frames", "50"])
        .expect_code(0, "burst");
    assert!(
        burst
            .stdout
            .starts_with("50 buffers through `frames` (50 came out)"),
        "{}",
        burst.stdout
    );
    board
        .kplug(&["sink", "frames", "gpio:8"])
        .expect_code(2, "a pin past the last is a usage error");
    board
        .kplug(&["sink", "frames", "gpio:3"])
        .expect_code(0, "sink");
}

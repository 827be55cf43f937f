//! `kplug-fuzz`: runs kplug's fuzzers for as long as asked, from a printed seed, saving what
//! they find as reproducers (`kplug fuzz` runs this binary; see the README's "Fuzzing").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: kplug_fuzz::measure::CountingAllocator = kplug_fuzz::measure::CountingAllocator;

const USAGE: &str = "usage:
  kplug-fuzz differential [--seed S] [--subset i32,i64[,sign-extension][,tables]] [--programs N | --minutes M]
                          [--first-case N] [--save DIR] [--stop-at-first]
        random terminating programs in the JIT (hardware and software isolation, the silicon
        harness: i686 Linux only) against wasmi: results, traps, memory and globals;
        the subset defaults to what the JIT compiles (i32,i64,sign-extension,tables)
  kplug-fuzz compiler     [--seed S] [--cases N | --minutes M] [--save DIR]
        wasm-smith, generated and mutated modules through compile in both modes: no panic,
        typed errors only, agreement with wasmparser's validator, bounded allocation
  kplug-fuzz descriptions [--seed S] [--cases N | --minutes M] [--save DIR]
        random and mutated descriptions and upload sequences through the plugin service on a
        fake platform (64-bit hosts): no panic, nothing beyond the documented limits
  kplug-fuzz replay differential|compiler|descriptions FILE...
        runs saved reproducers again
  kplug-fuzz reduce FILE.wat [--save OUT.wat] [--checks N]
        shrinks a differential reproducer while the mismatch stays (i686 Linux only); at most
        N candidate checks (default 2000), then the smallest failing program so far

Without --seed a seed is drawn and printed; the same seed repeats the same run. Findings are
saved in --save DIR (default: firmware/fuzz/regressions/<fuzzer>/, which the regression tests
replay). The exit code is 1 when something was found.

Examples (from the workspace root):
  # an hour of differential fuzzing (the JIT runs in the i686 harness):
  cargo run --release -p kplug-fuzz --target i686-unknown-linux-gnu -- differential --minutes 60
  # repeat a run, or one case of it, exactly:
  cargo run --release -p kplug-fuzz --target i686-unknown-linux-gnu -- differential --seed 0x1f --first-case 1420 --programs 1
  # the host fuzzers for ten minutes each:
  cargo run --release -p kplug-fuzz -- compiler --minutes 10
  cargo run --release -p kplug-fuzz -- descriptions --minutes 10";

/// Options every fuzzer takes.
struct Options {
    seed: u64,
    count: Option<u64>,
    duration: Option<Duration>,
    save: Option<PathBuf>,
    subset: String,
    first_case: u64,
    stop_at_first: bool,
    files: Vec<String>,
    checks: u32,
}

fn parse_u64(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("`{text}` is not a number"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seed: fastrand::u64(..),
        count: None,
        duration: None,
        save: None,
        subset: "i32,i64,sign-extension,tables".into(),
        first_case: 0,
        stop_at_first: false,
        files: Vec::new(),
        checks: kplug_fuzz::reduce::DEFAULT_CHECKS,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--seed" => options.seed = parse_u64(&value()?)?,
            "--checks" => {
                let text = value()?;
                options.checks = u32::try_from(parse_u64(&text)?)
                    .ok()
                    .filter(|&checks| checks > 0)
                    .ok_or_else(|| format!("`{text}` is not a check count (1..2^32)"))?;
            }
            "--programs" | "--cases" => options.count = Some(parse_u64(&value()?)?),
            "--minutes" => {
                let text = value()?;
                let minutes: f64 = text
                    .parse()
                    .ok()
                    .filter(|minutes: &f64| minutes.is_finite() && *minutes > 0.0)
                    .ok_or_else(|| format!("`{text}` is not a positive number of minutes"))?;
                options.duration = Some(Duration::from_secs_f64(minutes * 60.0));
            }
            "--save" => options.save = Some(PathBuf::from(value()?)),
            "--subset" => options.subset = value()?,
            "--first-case" => options.first_case = parse_u64(&value()?)?,
            "--stop-at-first" => options.stop_at_first = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => options.files.push(file.to_owned()),
        }
    }
    if options.count.is_some() && options.duration.is_some() {
        return Err("give --programs/--cases or --minutes, not both".into());
    }
    Ok(options)
}

/// Whether a run of `options` should stop after `done` cases since `started`.
fn finished(options: &Options, done: u64, started: Instant) -> bool {
    match (options.count, options.duration) {
        (Some(count), _) => done >= count,
        (None, Some(duration)) => started.elapsed() >= duration,
        (None, None) => done >= 1_000,
    }
}

/// Prints a progress line at most every 10 s.
struct Progress {
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            last: Instant::now(),
        }
    }

    fn tick(&mut self, line: impl FnOnce() -> String) {
        if self.last.elapsed() >= Duration::from_secs(10) {
            eprintln!("  {}", line());
            self.last = Instant::now();
        }
    }
}

/// The compiler and description fuzzers: cases from seeds, checked, findings saved.
fn run_cases<P: std::fmt::Display>(
    fuzzer: &str,
    extension: &str,
    options: &Options,
    case: impl Fn(u64) -> Vec<u8>,
    check: impl Fn(&[u8]) -> Result<(), P>,
    problem_name: impl Fn(&P) -> &'static str,
) -> ExitCode {
    eprintln!(
        "kplug-fuzz {fuzzer}: seed {:#x} (repeat with --seed {:#x})",
        options.seed, options.seed
    );
    let save = options
        .save
        .clone()
        .unwrap_or_else(|| kplug_fuzz::reproducer::regressions(fuzzer));
    let started = Instant::now();
    let mut progress = Progress::new();
    let mut done = 0u64;
    let mut found = 0u64;
    while !finished(options, done, started) {
        let number = options.first_case + done;
        let input = case(kplug_fuzz::compiler::case_seed(options.seed, number));
        if let Err(problem) = check(&input) {
            found += 1;
            let name = format!(
                "{}-seed-{:x}-case-{number}.{extension}",
                problem_name(&problem),
                options.seed
            );
            match kplug_fuzz::reproducer::save(&save, &name, &input) {
                Ok(path) => eprintln!("FOUND case {number}: {problem}\n  saved {}", path.display()),
                Err(error) => eprintln!("FOUND case {number}: {problem}\n  not saved: {error}"),
            }
        }
        done += 1;
        progress.tick(|| {
            format!(
                "{done} cases, {found} found, {:.0} s",
                started.elapsed().as_secs_f64()
            )
        });
    }
    println!(
        "kplug-fuzz {fuzzer}: {done} cases, {found} found in {:.1} s (seed {:#x})",
        started.elapsed().as_secs_f64(),
        options.seed
    );
    if found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn compiler(options: &Options) -> ExitCode {
    run_cases(
        "compiler",
        "wasm",
        options,
        |seed| kplug_fuzz::compiler::case(seed).2,
        kplug_fuzz::compiler::check,
        kplug_fuzz::compiler::Problem::name,
    )
}

#[cfg(target_pointer_width = "64")]
fn descriptions(options: &Options) -> ExitCode {
    use kplug_fuzz::descriptions;
    run_cases(
        "descriptions",
        "bin",
        options,
        |seed| descriptions::encode_case(&descriptions::case(seed)),
        |bytes| {
            let payloads = descriptions::decode_case(bytes).unwrap_or_default();
            descriptions::check(&payloads, kplug_core::Isolation::Software)?;
            descriptions::check(&payloads, kplug_core::Isolation::Hardware)
        },
        descriptions::Problem::name,
    )
}

#[cfg(not(target_pointer_width = "64"))]
fn descriptions(_options: &Options) -> ExitCode {
    eprintln!(
        "kplug-fuzz descriptions needs a 64-bit host (its fake platform reserves 4 GiB behind \
         each plugin stack); build kplug-fuzz for the host"
    );
    ExitCode::from(2)
}

#[cfg(all(target_arch = "x86", target_os = "linux"))]
fn differential(options: &Options) -> ExitCode {
    use kplug_fuzz::differential::{self, Run, Stop};
    let subset = match kplug_fuzz::subset::Subset::parse(&options.subset) {
        Ok(subset) => subset,
        Err(error) => {
            eprintln!("kplug-fuzz: {error}");
            return ExitCode::from(2);
        }
    };
    let stop = match (options.count, options.duration) {
        (Some(count), _) => Stop::Programs(count),
        (None, Some(duration)) => Stop::Time(duration),
        (None, None) => Stop::Programs(1_000),
    };
    let run = Run {
        subset,
        seed: options.seed,
        first_case: options.first_case,
        stop,
        save_to: Some(
            options
                .save
                .clone()
                .unwrap_or_else(|| kplug_fuzz::reproducer::regressions("differential")),
        ),
        stop_at_first: options.stop_at_first,
    };
    eprintln!(
        "kplug-fuzz differential: seed {:#x}, subset {} (repeat with --seed {:#x})",
        run.seed, run.subset, run.seed
    );
    let mut progress = Progress::new();
    let mut reported = 0;
    let summary = differential::run(&run, |summary| {
        for finding in &summary.findings[reported..] {
            eprintln!(
                "MISMATCH case {}: {}{}",
                finding.case,
                finding.mismatch.what,
                finding
                    .saved
                    .as_ref()
                    .map(|path| format!("\n  saved {}", path.display()))
                    .unwrap_or_default()
            );
        }
        reported = summary.findings.len();
        progress.tick(|| {
            format!(
                "{} programs, {} calls, {} mismatches, {:.0} s",
                summary.cases,
                summary.tally.calls,
                summary.findings.len(),
                summary.elapsed.as_secs_f64()
            )
        });
    });
    println!(
        "kplug-fuzz differential: {} programs ({} calls, {} trapped, {} start traps) in both \
         isolation modes against wasmi, {} mismatches in {:.1} s (seed {:#x}, subset {})",
        summary.cases,
        summary.tally.calls,
        summary.tally.traps,
        summary.tally.start_traps,
        summary.findings.len(),
        summary.elapsed.as_secs_f64(),
        run.seed,
        run.subset
    );
    let kinds: Vec<String> = summary
        .tally
        .trap_kinds
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    println!("  traps by kind: {}", kinds.join(", "));
    if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(not(all(target_arch = "x86", target_os = "linux")))]
fn differential(_options: &Options) -> ExitCode {
    eprintln!(
        "kplug-fuzz differential runs the JIT's code in the silicon harness: build it for \
         i686-unknown-linux-gnu (kplug fuzz differential does)"
    );
    ExitCode::from(2)
}

fn replay(options: &Options) -> ExitCode {
    let Some((fuzzer, files)) = options.files.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut failed = 0;
    for file in files {
        let outcome: Result<(), String> = match fuzzer.as_str() {
            "compiler" => std::fs::read(file)
                .map_err(|error| error.to_string())
                .and_then(|bytes| {
                    kplug_fuzz::compiler::check(&bytes).map_err(|problem| problem.to_string())
                }),
            #[cfg(target_pointer_width = "64")]
            "descriptions" => std::fs::read(file)
                .map_err(|error| error.to_string())
                .and_then(|bytes| {
                    let payloads = kplug_fuzz::descriptions::decode_case(&bytes)
                        .ok_or("not a saved description case")?;
                    kplug_fuzz::descriptions::check(&payloads, kplug_core::Isolation::Software)
                        .map_err(|problem| problem.to_string())
                }),
            #[cfg(all(target_arch = "x86", target_os = "linux"))]
            "differential" => std::fs::read_to_string(file)
                .map_err(|error| error.to_string())
                .and_then(|text| {
                    kplug_fuzz::reproducer::parse_differential(&text)
                        .map_err(|error| error.to_string())
                })
                .and_then(|program| {
                    kplug_fuzz::differential::check(&program)
                        .map(|_| ())
                        .map_err(|mismatch| mismatch.what)
                }),
            other => Err(format!("cannot replay `{other}` reproducers on this host")),
        };
        match outcome {
            Ok(()) => println!("ok    {file}"),
            Err(error) => {
                failed += 1;
                println!("FAIL  {file}: {error}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(all(target_arch = "x86", target_os = "linux"))]
fn reduce(options: &Options) -> ExitCode {
    let [file] = options.files.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let program = match std::fs::read_to_string(file)
        .map_err(|error| error.to_string())
        .and_then(|text| {
            kplug_fuzz::reproducer::parse_differential(&text).map_err(|error| error.to_string())
        }) {
        Ok(program) => program,
        Err(error) => {
            eprintln!("kplug-fuzz: {file}: {error}");
            return ExitCode::from(2);
        }
    };
    let Err(mismatch) = kplug_fuzz::differential::check(&program) else {
        eprintln!("kplug-fuzz: {file} does not fail (any more): nothing to reduce");
        return ExitCode::from(1);
    };
    let budget = kplug_fuzz::reduce::Budget {
        checks: options.checks,
    };
    let reduction = kplug_fuzz::differential::reduce(&program, budget);
    eprintln!(
        "kplug-fuzz: {} checks{}",
        reduction.checks,
        if reduction.exhausted {
            " (budget spent: the smallest failing program so far)"
        } else {
            " (fixed point)"
        }
    );
    let reduced = reduction.program;
    let note = match kplug_fuzz::differential::check(&reduced) {
        Err(reduced_mismatch) => format!(
            "reduced from {file}; originally:\n{}\nnow:\n{}",
            mismatch.what, reduced_mismatch.what
        ),
        Ok(_) => format!("reduced from {file}:\n{}", mismatch.what),
    };
    let text = kplug_fuzz::reproducer::differential_text(&reduced, &options.subset, &note);
    match &options.save {
        Some(path) => {
            if let Err(error) = std::fs::write(path, &text) {
                eprintln!("kplug-fuzz: {}: {error}", path.display());
                return ExitCode::from(1);
            }
            println!(
                "{} lines -> {} lines, saved {}",
                program.wat.lines().count(),
                reduced.wat.lines().count(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

#[cfg(not(all(target_arch = "x86", target_os = "linux")))]
fn reduce(_options: &Options) -> ExitCode {
    eprintln!("kplug-fuzz reduce runs the JIT in the silicon harness: i686 Linux only");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(rest) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("kplug-fuzz: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command.as_str() {
        "differential" => differential(&options),
        "compiler" => compiler(&options),
        "descriptions" => descriptions(&options),
        "replay" => replay(&options),
        "reduce" => reduce(&options),
        other => {
            eprintln!("kplug-fuzz: unknown fuzzer `{other}`\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

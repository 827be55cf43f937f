//! `kplug-silicon`: run plugins in the silicon harness (i686 Linux only).

#[cfg(all(target_arch = "x86", target_os = "linux"))]
#[global_allocator]
static ALLOCATOR: kplug_silicon::link::CountingAllocator = kplug_silicon::link::CountingAllocator;

#[cfg(all(target_arch = "x86", target_os = "linux"))]
fn main() {
    use kplug_silicon::cli;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => cli::run(&args[1..]),
        Some("link") => match cli::parse_link(&args[1..]) {
            Ok((isolation, listen)) => kplug_silicon::link::serve(isolation, listen.as_deref()),
            Err(error) => {
                eprintln!("error: {error}\n{}", cli::USAGE);
                2
            }
        },
        Some("bench") => kplug_silicon::bench::run(&args[1..]),
        _ => {
            eprintln!("{}", cli::USAGE);
            2
        }
    };
    std::process::exit(code);
}

#[cfg(not(all(target_arch = "x86", target_os = "linux")))]
fn main() {
    eprintln!("kplug-silicon needs i686 Linux: build it with --target i686-unknown-linux-gnu");
    std::process::exit(2);
}

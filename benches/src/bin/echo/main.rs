//! Loopback TCP echo servers on barepoll's peers: mio, tokio, calloop, polling and eventp.
//!
//! `echo serve PEER PORT` runs one (PORT 0: any free port).

mod peers;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", peer, port] => {
            let Ok(port) = port.parse::<u16>() else {
                eprintln!("echo serve: bad port {port:?}");
                std::process::exit(2);
            };
            if let Err(e) = peers::serve(peer, port) {
                eprintln!("echo serve {peer}: {e}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: echo serve PEER PORT   (PEER: mio, tokio, calloop, polling, eventp)");
            std::process::exit(2);
        }
    }
}

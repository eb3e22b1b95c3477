//! A TCP relay that copies bytes both ways and records nothing, on
//! current-thread tokio runtimes that take connections in turn, as reel's
//! wire recorders run: the floor under `reel record`'s cost per Redis,
//! Postgres or MySQL command. `bench/redis-record.sh` and the others
//! measure it beside the server direct and reel.
//!
//! Usage: bare_relay LISTEN TARGET [THREADS]   (e.g. 127.0.0.1:0 127.0.0.1:6379)
//! THREADS (1 unless given) runtimes share the connections, in turn.
//! Prints `listening LISTEN_ADDR` on stderr once it accepts, and runs until
//! killed.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Copies `rd` to `wr` until either ends, in reads of reel's size.
async fn pump(mut rd: impl AsyncRead + Unpin, mut wr: impl AsyncWrite + Unpin) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = rd.read(&mut buf).await {
        if n == 0 || wr.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// Relays one accepted connection to `target`.
async fn relay(client: TcpStream, target: String) {
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pump(cr, sw), pump(sr, cw));
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(target)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_relay LISTEN TARGET [THREADS]");
        std::process::exit(2);
    };
    let threads: usize = match args.next().map(|t| t.parse()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bare_relay: THREADS is a count of threads, 1 or more");
            std::process::exit(2);
        }
    };
    // Each further thread runs its own runtime; the accepting one hands
    // connections to them in turn, its own included.
    let mut workers = Vec::new();
    for _ in 1..threads {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        let target = target.clone();
        let runtime = current_thread()?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                while let Some(client) = rx.recv().await {
                    if let Ok(client) = TcpStream::from_std(client) {
                        tokio::spawn(relay(client, target.clone()));
                    }
                }
            })
        });
        workers.push(tx);
    }
    current_thread()?.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        eprintln!("listening {}", listener.local_addr()?);
        for turn in 0.. {
            let (client, _) = listener.accept().await?;
            match turn % threads {
                0 => drop(tokio::spawn(relay(client, target.clone()))),
                n => {
                    let _ = workers[n - 1].send(client.into_std()?);
                }
            }
        }
        Ok(())
    })
}

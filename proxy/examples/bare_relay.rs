//! A TCP relay that copies bytes both ways and records nothing, on one
//! current-thread tokio runtime as reel's wire recorders run: the floor
//! under `reel record`'s cost per Redis (or Postgres) command.
//! `bench/redis-record.sh` measures it beside Redis direct and reel.
//!
//! Usage: bare_relay LISTEN TARGET   (e.g. 127.0.0.1:0 127.0.0.1:6379)
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

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(target)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_relay LISTEN TARGET");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        eprintln!("listening {}", listener.local_addr()?);
        loop {
            let (client, _) = listener.accept().await?;
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw), pump(sr, cw));
            });
        }
    })
}

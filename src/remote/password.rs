//! The admin's password: `--password-file`, `LVSINIT_PASSWORD`, or asked
//! for on the terminal, with echo off, only when a command needs it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, LocalFlags, SetArg};

use super::error::RemoteError;

/// The first line of `path`, without its line ending (a file written by
/// `echo secret > file` works as it is).
pub fn read_file(path: &str) -> Result<String, RemoteError> {
    let text = std::fs::read_to_string(path).map_err(|source| RemoteError::File {
        path: path.to_string(),
        source,
    })?;
    Ok(first_line(&text).to_string())
}

fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

/// Ask for the password: on `/dev/tty` with echo off when there is a
/// terminal, else the first line of stdin (a pipe, as in
/// `pass show box | lvsinit remote ...`).
pub fn ask(prompt: &str) -> io::Result<String> {
    match File::options().read(true).write(true).open("/dev/tty") {
        Ok(tty) if termios::tcgetattr(tty.as_fd()).is_ok() => ask_tty(tty, prompt),
        _ => {
            let mut line = String::new();
            if io::stdin().lock().read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "no terminal to ask on, and stdin is empty",
                ));
            }
            Ok(first_line(&line).to_string())
        }
    }
}

fn ask_tty(mut tty: File, prompt: &str) -> io::Result<String> {
    let saved = termios::tcgetattr(tty.as_fd()).map_err(io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    termios::tcsetattr(tty.as_fd(), SetArg::TCSAFLUSH, &quiet).map_err(io::Error::from)?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    // Echo back on, whatever the read did.
    let restored = termios::tcsetattr(tty.as_fd(), SetArg::TCSAFLUSH, &saved);
    read?;
    restored.map_err(io::Error::from)?;
    Ok(first_line(&line).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines() {
        assert_eq!(first_line("secret\n"), "secret");
        assert_eq!(first_line("secret\r\nmore\n"), "secret");
        assert_eq!(first_line("secret"), "secret");
        assert_eq!(first_line(" spaced out \n"), " spaced out ");
        assert_eq!(first_line(""), "");
    }
}

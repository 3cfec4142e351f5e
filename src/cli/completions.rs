//! `kiln completions SHELL` and `kiln man`: what shells and `man` need to know of kiln's
//! command line, generated from the same clap definition that parses it.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, CliError};

/// Writes the completion script of `shell` (clap_complete).
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> Result<(), CliError> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "kiln", out);
    Ok(())
}

/// Writes kiln's man page, section 1, in roff (clap_mangen).
pub fn man_page(out: &mut impl Write) -> Result<(), CliError> {
    clap_mangen::Man::new(Cli::command()).render(out)?;
    Ok(())
}

using Microsoft.Extensions.Logging;

namespace Cloister.Cli.Commands;

/// <summary>What a running command writes to: its output, its errors and its logs.</summary>
/// <param name="Out">Standard output: the command's results.</param>
/// <param name="Error">Standard error: <c>error: …</c> lines.</param>
/// <param name="LoggerFactory">Logging, on standard error; also handed to the <see cref="EnclaveManager"/>.</param>
internal sealed record CommandContext(TextWriter Out, TextWriter Error, ILoggerFactory LoggerFactory);

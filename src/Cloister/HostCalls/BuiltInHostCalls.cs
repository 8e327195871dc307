using Cloister.HostCalls.Protocol;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>The host's answers to the built-in host calls of <see cref="IHostCalls"/>.</summary>
internal sealed class BuiltInHostCalls(EnclaveManagerOptions options)
{
    public void RegisterAll(HostCallRegistry registry)
    {
        registry.RegisterBuiltIn(Selectors.ConsoleWrite, WriteConsoleAsync);
        registry.RegisterBuiltIn(Selectors.Log, LogAsync);
        registry.RegisterBuiltIn(Selectors.FileRead, ReadFileAsync);
        registry.RegisterBuiltIn(Selectors.FileWrite, WriteFileAsync);
        registry.RegisterBuiltIn(Selectors.ClockNow, GetTimeAsync);
    }

    private async ValueTask<ReadOnlyMemory<byte>> WriteConsoleAsync(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var message = ConsoleWrite.Parser.ParseFrom(payload.Span);
        var writer = message.Error ? options.ConsoleError ?? Console.Error : options.ConsoleOut ?? Console.Out;
        await writer.WriteAsync(message.Text.AsMemory(), cancellationToken).ConfigureAwait(false);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        return ReadOnlyMemory<byte>.Empty;
    }

    private ValueTask<ReadOnlyMemory<byte>> LogAsync(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var record = LogRecord.Parser.ParseFrom(payload.Span);
        var level = (LogLevel)Math.Clamp(record.Level, (int)LogLevel.Trace, (int)LogLevel.Critical);
        var logger = options.LoggerFactory.CreateLogger(string.IsNullOrEmpty(record.Category) ? "Cloister.Enclave" : record.Category);
        if (logger.IsEnabled(level))
        {
            using (logger.BeginScope(new EnclaveLogScope(context.Enclave.Name)))
            {
                var text = string.IsNullOrEmpty(record.Exception) ? record.Message : $"{record.Message}{Environment.NewLine}{record.Exception}";
#pragma warning disable CA2254 // The text was formatted inside the enclave; it is not a template.
                logger.Log(level, new EventId(record.EventId, record.EventName.Length == 0 ? null : record.EventName), text);
#pragma warning restore CA2254
            }
        }

        return ValueTask.FromResult(ReadOnlyMemory<byte>.Empty);
    }

    private async ValueTask<ReadOnlyMemory<byte>> ReadFileAsync(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var request = FileReadRequest.Parser.ParseFrom(payload.Span);
        var path = ResolveHostPath(context, request.Path);
        try
        {
            var contents = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            return new FileReadResponse { Contents = UnsafeByteOperations.UnsafeWrap(contents) }.ToByteArray();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"Host file '{request.Path}' (at '{path}') does not exist.");
        }
        catch (UnauthorizedAccessException)
        {
            throw new EnclaveException(EnclaveStatusCode.PermissionDenied, $"The host may not read '{path}': access denied.");
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>> WriteFileAsync(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var request = FileWriteRequest.Parser.ParseFrom(payload.Span);
        var path = ResolveHostPath(context, request.Path);
        try
        {
            if (request.Append)
            {
                var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
                await using (stream.ConfigureAwait(false))
                {
                    await stream.WriteAsync(request.Contents.Memory, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                await File.WriteAllBytesAsync(path, request.Contents.Memory, cancellationToken).ConfigureAwait(false);
            }

            return ReadOnlyMemory<byte>.Empty;
        }
        catch (DirectoryNotFoundException)
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"The folder of host file '{request.Path}' (at '{path}') does not exist.");
        }
        catch (UnauthorizedAccessException)
        {
            throw new EnclaveException(EnclaveStatusCode.PermissionDenied, $"The host may not write '{path}': access denied.");
        }
    }

    private static ValueTask<ReadOnlyMemory<byte>> GetTimeAsync(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var micros = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10;
        return ValueTask.FromResult<ReadOnlyMemory<byte>>(new ClockResponse { UnixTimeMicros = micros }.ToByteArray());
    }

    /// <summary>Resolves an enclave-given path; with <see cref="EnclaveManagerOptions.HostFileRoot"/> set, it must stay inside it.</summary>
    private string ResolveHostPath(HostCallContext context, string requested)
    {
        if (string.IsNullOrEmpty(requested))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, "A host file call needs a path.");
        }

        if (options.HostFileRoot is not { } root)
        {
            return Path.GetFullPath(requested);
        }

        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(Path.Combine(fullRoot, requested));
        if (!full.StartsWith(fullRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new EnclaveException(EnclaveStatusCode.PermissionDenied,
                $"Enclave '{context.Enclave.Name}' asked for host file '{requested}', which is outside the allowed folder '{fullRoot}' (EnclaveManagerOptions.HostFileRoot).");
        }

        return full;
    }

    private sealed record EnclaveLogScope(string EnclaveName)
    {
        public override string ToString() => $"Enclave:{EnclaveName}";
    }
}

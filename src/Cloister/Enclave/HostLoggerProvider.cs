using System.Threading.Channels;
using Cloister.HostCalls.Protocol;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// Loggers inside the enclave that forward every record to the host's <see cref="ILogger"/>.
/// <see cref="ILogger.Log{TState}"/> is synchronous, so records queue and one pump sends them in order,
/// never blocking the enclave's threads on a host round trip.
/// </summary>
internal sealed class HostLoggerProvider : ILoggerProvider, IAsyncDisposable
{
    private readonly HostCallSender _host;
    private readonly Channel<(LogRecord? Record, TaskCompletionSource? Flushed)> _queue =
        Channel.CreateUnbounded<(LogRecord?, TaskCompletionSource?)>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _pump;

    public HostLoggerProvider(HostCallSender host) => _host = host;

    public ILogger CreateLogger(string categoryName) => new HostLogger(this, categoryName);

    private void Enqueue(LogRecord record)
    {
        if (_queue.Writer.TryWrite((record, null)))
        {
            EnsurePump();
        }
    }

    private void EnsurePump()
    {
        if (Volatile.Read(ref _pump) is not null)
        {
            return;
        }

        // The pump must not capture the AsyncLocals of whichever call logged first.
        using (ExecutionContext.SuppressFlow())
        {
            var pump = new Task<Task>(PumpAsync);
            if (Interlocked.CompareExchange(ref _pump, pump.Unwrap(), null) is null)
            {
                pump.Start(TaskScheduler.Default);
            }
        }
    }

    private async Task PumpAsync()
    {
        await foreach (var (record, flushed) in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (record is not null)
            {
                try
                {
                    await _host.SendLogAsync(record).ConfigureAwait(false);
                }
                catch (EnclaveException)
                {
                    // The host is gone or refuses logs; the enclave keeps working without them.
                }
            }

            flushed?.TrySetResult();
        }
    }

    /// <summary>Completes when every record logged so far has reached the host.</summary>
    public Task FlushAsync()
    {
        if (Volatile.Read(ref _pump) is null)
        {
            return Task.CompletedTask;
        }

        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queue.Writer.TryWrite((null, flushed)) ? flushed.Task : Task.CompletedTask;
    }

    public void Dispose() => _queue.Writer.TryComplete();

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (Volatile.Read(ref _pump) is { } pump)
        {
            await pump.ConfigureAwait(false);
        }
    }

    private sealed class HostLogger(HostLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            provider.Enqueue(new LogRecord
            {
                Category = category,
                Level = (int)logLevel,
                EventId = eventId.Id,
                EventName = eventId.Name ?? string.Empty,
                Message = formatter(state, exception),
                Exception = exception?.ToString() ?? string.Empty,
            });
        }
    }
}

/// <summary>An <see cref="ILoggerFactory"/> over the one forwarding provider.</summary>
internal sealed class HostLoggerFactory(HostLoggerProvider provider) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => provider.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("An enclave's logging always goes to its host; configure providers in the host's logging instead.");

    public void Dispose()
    {
    }
}

using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Cloister.Tests;

/// <summary>Keeps every log record in memory so tests can assert on what reached the host's logging.</summary>
public sealed class InMemoryLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<Record> _records = new();

    public IReadOnlyCollection<Record> Records => _records;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public sealed record Record(string Category, LogLevel Level, string Message);

    private sealed class Logger(InMemoryLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._records.Enqueue(new Record(category, logLevel, formatter(state, exception)));
    }
}

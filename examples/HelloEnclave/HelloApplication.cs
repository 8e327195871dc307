using System.Text;
using Cloister;
using Microsoft.Extensions.Logging;

namespace HelloEnclave;

/// <summary>
/// A minimal enclave: it greets whoever the host names, counts the greetings, and shows the two ways an
/// enclave reaches the outside world — host calls (a host file, the host console) and its return value.
/// </summary>
public sealed partial class HelloApplication : TrustedApplication
{
    /// <summary>The <see cref="EnclaveConfig.Environment"/> key naming a host file that holds the greeting word.</summary>
    public const string GreetingFileKey = "GREETING_FILE";

    private string _greeting = "Hello";
    private int _calls;

    /// <summary>Reads the greeting word from the host file named by <c>GREETING_FILE</c>, if the host gave one.</summary>
    public override async ValueTask InitializeAsync(EnclaveConfig config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);

        // The enclave has no file system of its own: it asks the host for the file's bytes.
        if (config.Environment.TryGetValue(GreetingFileKey, out var path))
        {
            var bytes = await Host.ReadFileAsync(path, cancellationToken);
            _greeting = Encoding.UTF8.GetString(bytes).Trim();
        }

        LogReady(LoggerFactory.CreateLogger<HelloApplication>(), config.Name, _greeting);
    }

    /// <summary>Greets <see cref="EnclaveInput.Text"/> on the host's console and returns the greeting.</summary>
    public override async ValueTask<EnclaveOutput> RunAsync(EnclaveInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);

        // RunAsync may run concurrently, so the counter is updated atomically.
        var call = Interlocked.Increment(ref _calls);
        var greeting = $"{_greeting}, {input.Text}! (call #{call})";

        await Host.WriteConsoleAsync(greeting + Environment.NewLine, cancellationToken: cancellationToken);
        return new EnclaveOutput { Text = greeting };
    }

    [LoggerMessage(1, LogLevel.Information, "HelloEnclave '{Name}' is ready; its greeting is '{Greeting}'")]
    private static partial void LogReady(ILogger logger, string name, string greeting);
}

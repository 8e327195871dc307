using Grpc.Core;
using Grpc.Net.Client;
using Translator;

namespace Cloister.Grpc.Tests;

/// <summary>The Translator example end to end: the real driver executable, the real client executable.</summary>
public sealed class TranslatorTests(GrpcPackages packages)
{
    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task Driver_serves_translations_to_real_clients_and_stops_cleanly_on_SIGTERM(string backend)
    {
        await using var driver = await RunningDriver.StartAsync(packages.Translator, backend);

        foreach (var (word, expected) in new[] { ("asylo", "sanctuary"), ("AsYlO", "sanctuary"), ("ISTIO", "sail"), ("Kubernetes", "helmsman") })
        {
            var client = await Executables.RunAsync(Executables.Client, "--port", driver.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--word-to-translate", word);
            Assert.True(client.ExitCode == 0, client.ToString());
            Assert.Equal($"Translation for \"{word}\" is \"{expected}\"", client.StandardOutput.Trim());
        }

        var unknown = await Executables.RunAsync(Executables.Client, "--port", driver.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--word_to_translate", "Foo");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("InvalidArgument: No known translation for \"Foo\"", unknown.StandardError);

        var stopped = await driver.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Equal("", stopped.StandardOutput); // "Server started on port N" was the one and only line
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task Hundred_concurrent_clients_and_a_missing_word(string backend)
    {
        await using var driver = await RunningDriver.StartAsync(packages.Translator, backend);
        var words = new[] { ("asylo", "sanctuary"), ("istio", "sail"), ("kubernetes", "helmsman") };

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{driver.Port}");
            var client = new Translator.Translator.TranslatorClient(channel);
            var (word, expected) = words[i % words.Length];
            var reply = await client.GetTranslationAsync(new GetTranslationRequest { InputWord = word }, deadline: DateTime.UtcNow.AddSeconds(60));
            return reply.TranslatedWord == expected;
        })).WaitAsync(Executables.Timeout);
        Assert.All(results, Assert.True);

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{driver.Port}");
        var missing = await Assert.ThrowsAsync<RpcException>(() => new Translator.Translator.TranslatorClient(channel).GetTranslationAsync(new GetTranslationRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.Equal("No input word given", missing.Status.Detail);
    }

    [Fact]
    public async Task Driver_without_an_enclave_path_exits_1_with_a_clear_error()
    {
        var result = await Executables.RunAsync(Executables.Driver);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: --enclave-path is required", result.StandardError);
    }

    [Fact]
    public async Task Driver_with_an_unreadable_enclave_path_exits_1_naming_it()
    {
        var result = await Executables.RunAsync(Executables.Driver, "--enclave_path", "/nonexistent/translator.cloister");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: --enclave-path '/nonexistent/translator.cloister' cannot be read", result.StandardError);
    }

    [Fact]
    public async Task Client_refuses_an_empty_word_before_any_call()
    {
        var result = await Executables.RunAsync(Executables.Client, "--port", "1", "--word-to-translate", "");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--word-to-translate is required and must not be empty", result.StandardError);
    }

    [Fact]
    public async Task Driver_stops_by_itself_at_the_end_of_its_lifetime()
    {
        await using var driver = await RunningDriver.StartAsync(packages.Translator, "sim", "--server-max-lifetime", "1");
        var exited = await driver.WaitForExitAsync();
        Assert.True(exited.ExitCode == 0, exited.ToString());
    }
}

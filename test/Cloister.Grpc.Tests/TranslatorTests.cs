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

    /// <summary>
    /// A client of another gRPC stack, reduced to what every stack sends: HTTP/2 POST to
    /// <c>/examples.grpc_server.Translator/GetTranslation</c>, <c>application/grpc</c>, a length-prefixed message whose bytes
    /// are written here from the Asylo proto's field numbers (<c>input_word = 1</c>), no grpc-dotnet and no generated code.
    /// The reply is read the same way (<c>translated_word = 1</c>), and the status from the trailers.
    /// </summary>
    [Fact]
    public async Task A_client_of_any_grpc_stack_gets_sanctuary_for_asylo_from_the_wire_contract_alone()
    {
        await using var driver = await RunningDriver.StartAsync(packages.Translator, "sim");
        using var http = new HttpClient();

        var (status, message, reply) = await CallAsync("asylo"u8.ToArray());
        Assert.Equal("0", status);
        Assert.Equal([0x0A, 9, .. "sanctuary"u8.ToArray()], reply); // field 1, length-delimited, 9 bytes

        (status, message, _) = await CallAsync(null);
        Assert.Equal("3", status); // INVALID_ARGUMENT
        Assert.Equal("No input word given", message);

        async Task<(string? Status, string? Message, byte[] Reply)> CallAsync(byte[]? word)
        {
            byte[] body = word is null ? [] : [0x0A, (byte)word.Length, .. word];
            byte[] frame = [0, .. System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(body.Length) is var n ? BitConverter.GetBytes(n) : [], .. body];
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{driver.Port}/examples.grpc_server.Translator/GetTranslation")
            {
                Content = new ByteArrayContent(frame),
                Version = System.Net.HttpVersion.Version20, // plaintext HTTP/2 with prior knowledge, as gRPC clients do
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            request.Headers.TryAddWithoutValidation("te", "trailers");
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(Executables.Timeout);
            var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.True(response.IsSuccessStatusCode && response.Version == System.Net.HttpVersion.Version20,
                $"HTTP/{response.Version} {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(bytes)}");
            var reply = bytes.Length >= 5 ? bytes[5..] : [];
            Assert.Equal(bytes.Length >= 5 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1)) : 0, reply.Length);
            string? Header(string name) =>
                response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single() : response.Headers.TryGetValues(name, out var h) ? h.Single() : null;
            return (Header("grpc-status"), Header("grpc-message") is { } m ? Uri.UnescapeDataString(m) : null, reply);
        }
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

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task With_tls_the_driver_serves_TLS_that_clients_trust_through_the_dev_CA_and_plaintext_clients_are_told_why_they_fail(string backend)
    {
        using var certs = new DevCertificates();
        await using var driver = await RunningDriver.StartAsync(packages.Translator, backend, ["--security-type", "tls", .. certs.ServerFlags]);

        var trusted = await Executables.RunAsync(Executables.Client, [.. Call(driver, "asylo"), "--security-type", "tls", "--ssl-ca-cert", certs.Ca]);
        Assert.True(trusted.ExitCode == 0, trusted.ToString());
        Assert.Equal("Translation for \"asylo\" is \"sanctuary\"", trusted.StandardOutput.Trim());

        var plaintext = await Executables.RunAsync(Executables.Client, Call(driver, "asylo"));
        Assert.True(plaintext.ExitCode == 2, plaintext.ToString());
        // grpc-dotnet reports a connection the server drops as Unavailable or Internal, depending on when it notices.
        Assert.Matches("error: (Unavailable|Internal): ", plaintext.StandardError);
        Assert.Contains("If it serves TLS (the driver's --security-type tls or mtls), call it with --security-type tls --ssl-ca-cert", plaintext.StandardError);

        // The server's certificate is really checked: without the dev CA (the system's CAs only) the handshake fails.
        var untrusted = await Executables.RunAsync(Executables.Client, [.. Call(driver, "asylo"), "--security-type", "tls"]);
        Assert.True(untrusted.ExitCode == 2, untrusted.ToString());
        Assert.Contains("The remote certificate is invalid", untrusted.StandardError);
        Assert.Contains("hint: the TLS handshake failed", untrusted.StandardError);

        var stopped = await driver.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task With_mtls_the_driver_serves_only_clients_with_a_certificate_from_its_CA(string backend)
    {
        using var certs = new DevCertificates();
        using var strangers = new DevCertificates();
        await using var driver = await RunningDriver.StartAsync(packages.Translator, backend, ["--security-type", "mtls", .. certs.ServerFlags]);

        var member = await Executables.RunAsync(Executables.Client, [.. Call(driver, "istio"), "--security-type", "mtls", "--ssl-ca-cert", certs.Ca, .. certs.ClientFlags]);
        Assert.True(member.ExitCode == 0, member.ToString());
        Assert.Equal("Translation for \"istio\" is \"sail\"", member.StandardOutput.Trim());

        var anonymous = await Executables.RunAsync(Executables.Client, [.. Call(driver, "istio"), "--security-type", "tls", "--ssl-ca-cert", certs.Ca]);
        Assert.True(anonymous.ExitCode == 2, anonymous.ToString());
        Assert.Empty(anonymous.StandardOutput);
        Assert.Matches("error: (Unavailable|Internal): ", anonymous.StandardError);
        Assert.Contains("If the server requires client certificates (the driver's --security-type mtls), call it with --security-type mtls --ssl-client-cert", anonymous.StandardError);

        // A certificate from another CA is refused like none at all.
        var stranger = await Executables.RunAsync(Executables.Client, [.. Call(driver, "istio"), "--security-type", "mtls", "--ssl-ca-cert", certs.Ca, .. strangers.ClientFlags]);
        Assert.True(stranger.ExitCode == 2, stranger.ToString());
        Assert.Empty(stranger.StandardOutput);

        var stopped = await driver.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
    }

    [Fact]
    public async Task With_tls_but_no_server_certificate_the_driver_exits_1_naming_the_flag()
    {
        using var certs = new DevCertificates();
        var result = await Executables.RunAsync(Executables.Driver, "--enclave-path", packages.Translator, "--security-type", "tls", "--ssl-ca-cert", certs.Ca);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: --security-type tls makes the Translator serve TLS: give its certificate with --ssl-server-cert", result.StandardError);
    }

    private static string[] Call(RunningDriver driver, string word) =>
        ["--port", driver.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--word-to-translate", word];

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

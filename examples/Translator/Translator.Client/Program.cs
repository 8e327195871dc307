using System.CommandLine;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Translator;

// The Translator client. Flags follow the Asylo example (underscore spellings are accepted too); the security flags have
// the names of the driver's (and every Cloister command's).
var port = new Option<int?>("--port") { Description = "The port of the translator server on localhost." };
var address = new Option<string?>("--address") { Description = "The server's address instead of --port, e.g. http://127.0.0.1:50051 (https:// with TLS)." };
var word = new Option<string?>("--word-to-translate", "--word_to_translate") { Description = "The word to translate." };
var securityType = new Option<string>("--security-type", "--security_type")
{
    Description = "insecure (alias local), tls (alias ssl) or mtls: as the driver was started.",
    DefaultValueFactory = _ => "insecure",
};
securityType.AcceptOnlyFromAmong("insecure", "local", "tls", "ssl", "mtls");
var caCertificate = new Option<string?>("--ssl-ca-cert", "--ssl_ca_cert") { Description = "With tls or mtls: trust only server certificates chaining to this CA (PEM). Default: the system's trusted CAs." };
var clientCertificate = new Option<string?>("--ssl-client-cert", "--ssl_client_cert") { Description = "With mtls: this client's certificate (PEM with --ssl-client-key, or PFX)." };
var clientKey = new Option<string?>("--ssl-client-key", "--ssl_client_key") { Description = "The PEM private key of --ssl-client-cert." };
var root = new RootCommand("Asks the Translator enclave's gRPC server for a translation.") { port, address, word, securityType, caCertificate, clientCertificate, clientKey };
root.SetAction(async (result, cancellationToken) =>
{
    var security = result.GetValue(securityType)!.ToLowerInvariant() switch
    {
        "tls" or "ssl" => Security.Tls,
        "mtls" => Security.MutualTls,
        _ => Security.Insecure,
    };
    var scheme = security == Security.Insecure ? "http" : "https";
    var target = result.GetValue(address) ?? (result.GetValue(port) is { } p ? $"{scheme}://localhost:{p}" : null);
    var toTranslate = result.GetValue(word);
    if (target is null)
    {
        await Console.Error.WriteLineAsync("error: give the server's --port (or --address).");
        return 1;
    }

    if (string.IsNullOrEmpty(toTranslate))
    {
        await Console.Error.WriteLineAsync("error: --word-to-translate is required and must not be empty.");
        return 1;
    }

    if (!target.Contains("://", StringComparison.Ordinal))
    {
        target = $"{scheme}://{target}";
    }

    if (!target.StartsWith(scheme + "://", StringComparison.OrdinalIgnoreCase))
    {
        await Console.Error.WriteLineAsync($"error: --address {target} does not match --security-type {result.GetValue(securityType)}: use {scheme}://.");
        return 1;
    }

    SocketsHttpHandler handler;
    try
    {
        handler = CreateHandler(security, result.GetValue(caCertificate), result.GetValue(clientCertificate), result.GetValue(clientKey));
    }
    catch (ArgumentException ex)
    {
        await Console.Error.WriteLineAsync($"error: {ex.Message}");
        return 1;
    }

    using var channel = GrpcChannel.ForAddress(target, new GrpcChannelOptions { HttpHandler = handler });
    var client = new Translator.Translator.TranslatorClient(channel);
    try
    {
        var response = await client.GetTranslationAsync(new GetTranslationRequest { InputWord = toTranslate }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        Console.WriteLine($"Translation for \"{toTranslate}\" is \"{response.TranslatedWord}\"");
        return 0;
    }
    catch (RpcException ex)
    {
        await Console.Error.WriteLineAsync($"error: {ex.StatusCode}: {ex.Status.Detail}");
        if (Hint(ex, security) is { } hint)
        {
            await Console.Error.WriteLineAsync($"hint: {hint}");
        }

        return 2;
    }
});
return await root.Parse(args).InvokeAsync();

// Plain .NET TLS, nothing Cloister about it: the server's certificate must chain to --ssl-ca-cert when given (and match the
// host name); with mtls this client presents its own certificate.
static SocketsHttpHandler CreateHandler(Security security, string? caPath, string? certificatePath, string? keyPath)
{
    var handler = new SocketsHttpHandler();
    if (security == Security.Insecure)
    {
        return handler;
    }

    var options = new SslClientAuthenticationOptions();
    if (caPath is not null)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(caPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"--ssl-ca-cert '{caPath}' cannot be read as PEM certificates: {ex.Message}");
        }

        options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            certificate is X509Certificate2 server
            && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
            && ChainsTo(server, authorities);
    }

    if (security == Security.MutualTls)
    {
        if (certificatePath is null)
        {
            throw new ArgumentException("--security-type mtls needs this client's certificate: --ssl-client-cert (and --ssl-client-key for PEM).");
        }

        try
        {
            var pfx = Path.GetExtension(certificatePath).ToLowerInvariant() is ".pfx" or ".p12";
            options.ClientCertificates = [pfx
                ? X509CertificateLoader.LoadPkcs12FromFile(certificatePath, null)
                : X509Certificate2.CreateFromPemFile(certificatePath, keyPath ?? throw new ArgumentException("--ssl-client-cert is PEM: give its key with --ssl-client-key."))];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"--ssl-client-cert '{certificatePath}' cannot be loaded: {ex.Message}");
        }
    }

    handler.SslOptions = options;
    return handler;
}

static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection authorities)
{
    using var chain = new X509Chain();
    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
    chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
    return chain.Build(certificate);
}

// What most likely went wrong when the call never reached the service.
static string? Hint(RpcException ex, Security security)
{
    if (ex.StatusCode is not (StatusCode.Unavailable or StatusCode.Internal))
    {
        return null;
    }

    if (security == Security.Insecure)
    {
        return "the server did not answer plaintext HTTP/2. If it serves TLS (the driver's --security-type tls or mtls), call it with --security-type tls --ssl-ca-cert <ca.pem>, or mtls with a client certificate.";
    }

    for (Exception? inner = ex.Status.DebugException; inner is not null; inner = inner.InnerException)
    {
        if (inner is AuthenticationException)
        {
            return "the TLS handshake failed: the server's certificate must chain to --ssl-ca-cert and be valid for the host name called; a server started with mtls also needs --security-type mtls with --ssl-client-cert and --ssl-client-key.";
        }
    }

    return security == Security.Tls
        ? "the connection ended during or right after the TLS handshake. If the server requires client certificates (the driver's --security-type mtls), call it with --security-type mtls --ssl-client-cert <client.pem> --ssl-client-key <client.key>."
        : null;
}

internal enum Security
{
    Insecure,
    Tls,
    MutualTls,
}

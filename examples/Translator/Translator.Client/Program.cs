using System.CommandLine;
using Grpc.Core;
using Grpc.Net.Client;
using Translator;

// The Translator client. Flags follow the Asylo example (underscore spellings are accepted too).
var port = new Option<int?>("--port") { Description = "The port of the translator server on localhost." };
var address = new Option<string?>("--address") { Description = "The server's address instead of --port, e.g. http://127.0.0.1:50051." };
var word = new Option<string?>("--word-to-translate", "--word_to_translate") { Description = "The word to translate." };
var root = new RootCommand("Asks the Translator enclave's gRPC server for a translation.") { port, address, word };
root.SetAction(async (result, cancellationToken) =>
{
    var target = result.GetValue(address) ?? (result.GetValue(port) is { } p ? $"http://localhost:{p}" : null);
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
        target = $"http://{target}";
    }

    using var channel = GrpcChannel.ForAddress(target);
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
        return 2;
    }
});
return await root.Parse(args).InvokeAsync();

using System.Collections.Frozen;
using Grpc.Core;

namespace Translator;

/// <summary>Translates a few words. The dictionary lives in the enclave; the host never sees it.</summary>
public sealed class TranslatorService : Translator.TranslatorBase
{
    private static readonly FrozenDictionary<string, string> Translations = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["asylo"] = "sanctuary",
        ["istio"] = "sail",
        ["kubernetes"] = "helmsman",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public override Task<GetTranslationResponse> GetTranslation(GetTranslationRequest request, ServerCallContext context)
    {
        if (!request.HasInputWord)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "No input word given"));
        }

        return Translations.TryGetValue(AsciiLower(request.InputWord), out var translation)
            ? Task.FromResult(new GetTranslationResponse { TranslatedWord = translation })
            : throw new RpcException(new Status(StatusCode.InvalidArgument, $"No known translation for \"{request.InputWord}\""));
    }

    /// <summary>Lower-cases A–Z only: the lookup is ASCII-case-insensitive, as in the reference example.</summary>
    private static string AsciiLower(string word) =>
        string.Create(word.Length, word, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = char.IsAsciiLetterUpper(c) ? (char)(c + ('a' - 'A')) : c;
            }
        });
}

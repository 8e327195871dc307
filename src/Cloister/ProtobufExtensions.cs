using Google.Protobuf;

namespace Cloister;

/// <summary>
/// Typed access to application-defined protobuf extensions of Cloister's messages. A message that crossed the
/// enclave boundary was parsed without the application's extension registry, so its extensions sit in unknown
/// fields; these helpers find them there too.
/// </summary>
public static class ProtobufExtensions
{
    /// <summary>The value of <paramref name="extension"/> in <paramref name="message"/>, or its default when absent.</summary>
    public static TValue GetExtensionValue<TTarget, TValue>(this TTarget message, Extension<TTarget, TValue> extension)
        where TTarget : IExtendableMessage<TTarget>
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(extension);
        return message.HasExtension(extension) ? message.GetExtension(extension) : Reparse(message, extension).GetExtension(extension);
    }

    /// <summary>Whether <paramref name="message"/> holds <paramref name="extension"/>, parsed or as an unknown field.</summary>
    public static bool HasExtensionValue<TTarget, TValue>(this TTarget message, Extension<TTarget, TValue> extension)
        where TTarget : IExtendableMessage<TTarget>
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(extension);
        return message.HasExtension(extension) || Reparse(message, extension).HasExtension(extension);
    }

    /// <summary>Sets <paramref name="extension"/> on <paramref name="message"/> and returns the message, for initializers.</summary>
    public static TTarget WithExtension<TTarget, TValue>(this TTarget message, Extension<TTarget, TValue> extension, TValue value)
        where TTarget : IExtendableMessage<TTarget>
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(extension);
        message.SetExtension(extension, value);
        return message;
    }

    private static TTarget Reparse<TTarget, TValue>(TTarget message, Extension<TTarget, TValue> extension)
        where TTarget : IExtendableMessage<TTarget>
    {
        var parser = message.Descriptor.Parser.WithExtensionRegistry([extension]);
        return (TTarget)parser.ParseFrom(message.ToByteString());
    }
}

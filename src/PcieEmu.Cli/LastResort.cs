using System.CommandLine;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace PcieEmu.Cli;

/// <summary>
/// The net under every verb: an exception that still escapes one is a bug or an unforeseen environment, and the user
/// gets one line naming the verb and the message, with the full exception only at --log-level Debug, and exit code
/// 70 (EX_SOFTWARE). Verbs report the failures they expect themselves, with their own exit codes.
/// </summary>
internal static class LastResort
{
    public const int ExitCode = 70;

    public static int Report(ParseResult parse, Exception exception)
    {
        while (exception is AggregateException { InnerExceptions.Count: 1 } or TargetInvocationException && exception.InnerException is { } inner)
        {
            exception = inner;
        }

        string message = string.Join(' ', exception.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        bool debug;
        try
        {
            debug = CliLogging.Level(parse) <= LogLevel.Debug;
        }
        catch (InvalidOperationException)
        {
            debug = false; // an unreadable --log-level must not hide the error being reported
        }

        Console.Error.WriteLine(debug
            ? $"pcieemu {Verb(parse)}: {message}"
            : $"pcieemu {Verb(parse)}: {message} (unexpected {exception.GetType().Name}; --log-level Debug shows the details)");
        if (debug)
        {
            Console.Error.WriteLine(exception);
        }

        return ExitCode;
    }

    /// <summary>"serve", "bench stream", … (the root command's name is the executable's).</summary>
    private static string Verb(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result.Parent is System.CommandLine.Parsing.CommandResult parent; result = parent)
        {
            names.Insert(0, result.Command.Name);
        }

        return names.Count > 0 ? string.Join(' ', names) : "(no verb)";
    }
}

using Microsoft.Extensions.Logging;

namespace PcieEmu.Harness.Logging;

/// <summary>
/// Appends log lines to a file (the server log a failed boot points to): every level but None, one line per entry
/// ("time level category[event] message", then the exception), flushed at once. Thread-safe.
/// </summary>
/// <param name="path">The file; created if missing, appended to otherwise (throws <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when it cannot be opened).</param>
public sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };

    /// <summary>A logger writing to the file under <paramref name="categoryName"/>.</summary>
    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    /// <summary>Closes the file; loggers created from this provider must not be used afterwards.</summary>
    public void Dispose() => _writer.Dispose();

    private void Write(string line)
    {
        lock (_writer)
        {
            _writer.WriteLine(line);
        }
    }

    private sealed class FileLogger(FileLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string line = $"{DateTime.Now:HH:mm:ss.fff} {logLevel,-11} {category}[{eventId.Id}] {formatter(state, exception)}";
            owner.Write(exception is null ? line : line + Environment.NewLine + exception);
        }
    }
}

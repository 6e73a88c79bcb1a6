using System.Globalization;
using PcieEmu.Harness;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// A `boot --exec` that acts on a card's slot instead of running in the guest: `@unplug [N]` (device_del),
/// `@plug [N]` (device_add), `@surprise [N]` (the card's server drops its connection: the card vanishes without
/// warning; `@unplug` it next). N is the card's index (default 0).
/// </summary>
internal sealed record SlotAction(string Verb, int Card)
{
    public static bool IsAction(string exec) => exec.TrimStart().StartsWith('@');

    /// <summary>Parses an `@` command; null and the reason when it is not one of ours.</summary>
    public static SlotAction? Parse(string exec, int cards, out string? error)
    {
        error = null;
        string[] words = exec.Trim()[1..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string verb = words.Length > 0 ? words[0] : "";
        if (verb is not ("unplug" or "plug" or "surprise") || words.Length > 2)
        {
            error = $"--exec \"{exec}\": expected @unplug [N], @plug [N] or @surprise [N]";
            return null;
        }

        int card = 0;
        if (words.Length == 2 && (!int.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out card) || card >= cards))
        {
            error = $"--exec \"{exec}\": card {words[1]} does not exist (the session has {cards} card(s), 0 to {cards - 1})";
            return null;
        }

        return new SlotAction(verb, card);
    }

    /// <summary>Whether it needs the hot-plug QEMU (anything but a surprise removal alone).</summary>
    public bool NeedsHotPlug => Verb is "unplug" or "plug";

    public Task RunAsync(CardSlots slots, CancellationToken cancellationToken) => Verb switch
    {
        "unplug" => slots.UnplugAsync(Card, cancellationToken),
        "plug" => slots.PlugAsync(Card, cancellationToken),
        _ => slots.SurpriseRemoveAsync(Card, cancellationToken),
    };
}

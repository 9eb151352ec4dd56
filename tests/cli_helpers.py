"""What the command-line tests share: running a command in this process (the ``scripted`` model and image are a
fixture in conftest.py)."""

from onepixel.cli import main


def run(argv, capsys):
    """``onepixel ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err

import click


@click.group()
def main():
    """trainer (arrives with its issue)."""
